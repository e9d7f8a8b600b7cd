"""alertd plugin: the generic JSON webhook inbound type (``type = "webhook"``).

Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_inbound_webhook.inbound_type import WebhookInboundType

__version__ = "0.1.0"


@hookimpl
def alertd_inbound_types() -> list[Any]:
    return [WebhookInboundType()]
