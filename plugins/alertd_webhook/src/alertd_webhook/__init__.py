"""alertd plugin: the ``webhook`` channel for contact kind ``webhook``.

The user's contact address is the URL to POST to::

    [users.alice]
    contact = { webhook = "https://hooks.example.com/alertd/alice" }

    [channels.webhook]
    secret = "..."                      # optional: X-Alertd-Signature: sha256=<hex HMAC of "{timestamp}.{body}">
    allowed_hosts = ["hooks.example.com"]  # optional: refuse any other host
    # body_template = '{"text": "{{ notification.subject }}"}'   # optional, sandboxed Jinja2; values JSON-escaped

Every request carries ``Idempotency-Key``: the same on every retry of one notification.
Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_webhook.channel import WebhookChannel, WebhookSettings, signature

__version__ = "0.1.0"
__all__ = ["CHANNEL", "WebhookChannel", "WebhookSettings", "signature"]

CHANNEL = WebhookChannel()


@hookimpl
def alertd_channels() -> list[Any]:
    return [CHANNEL]
