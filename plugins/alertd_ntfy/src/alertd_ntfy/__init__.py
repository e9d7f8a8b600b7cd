"""alertd plugin: the ``ntfy`` channel (https://ntfy.sh or self-hosted) for contact kind ``push``.

The user's contact address is a topic name on the configured server, or a full topic URL::

    [users.alice]
    contact = { push = "alice-pager-7f3k2" }      # or "https://ntfy.example.com/alice-pager"

    [channels.ntfy]
    server = "https://ntfy.example.com"   # default https://ntfy.sh
    token = "tk_..."                      # optional access token (sent to `server` only)

Only one channel may serve a contact kind: configure either ``ntfy`` or ``apprise`` for ``push``.
Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_ntfy.channel import NtfyChannel, NtfySettings, publish_body, resolve_topic

__version__ = "0.1.0"
__all__ = ["CHANNEL", "NtfyChannel", "NtfySettings", "publish_body", "resolve_topic"]

CHANNEL = NtfyChannel()


@hookimpl
def alertd_channels() -> list[Any]:
    return [CHANNEL]
