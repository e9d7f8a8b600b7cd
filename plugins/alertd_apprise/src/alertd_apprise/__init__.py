"""alertd plugin: the ``apprise`` channel for contact kind ``push``, through any Apprise URL.

The user's contact address is an Apprise URL (see https://github.com/caronc/apprise/wiki)::

    [users.alice]
    contact = { push = "pover://user_key@app_token" }   # or ntfys://topic, gotifys://host/token ...

    [channels.apprise]
    timeout = 15          # seconds for one notification (default)
    title_maxlen = 120    # optional

Only one channel may serve a contact kind: configure either ``apprise`` or ``ntfy`` for ``push``
(ntfy alone gives acknowledge/close buttons; Apprise sends the signed links as text).
Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_apprise.channel import AppriseChannel, AppriseSettings

__version__ = "0.1.0"
__all__ = ["CHANNEL", "AppriseChannel", "AppriseSettings"]

CHANNEL = AppriseChannel()


@hookimpl
def alertd_channels() -> list[Any]:
    return [CHANNEL]
