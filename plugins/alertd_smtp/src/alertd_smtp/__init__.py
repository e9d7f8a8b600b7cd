"""alertd plugin: the ``smtp`` channel, email for contact kind ``email``.

Configure it in alertd.toml::

    [channels.smtp]
    host = "smtp.example.com"
    port = 587                  # default; 465 with security = "tls"
    security = "starttls"       # "starttls" (default), "tls" (implicit TLS) or "none"
    username = "alertd"         # optional; username and password go together
    password = "..."
    from_address = "alertd <alertd@example.com>"

Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_smtp.channel import SmtpChannel, SmtpSettings

__version__ = "0.1.0"
__all__ = ["CHANNEL", "SmtpChannel", "SmtpSettings"]

CHANNEL = SmtpChannel()


@hookimpl
def alertd_channels() -> list[Any]:
    return [CHANNEL]
