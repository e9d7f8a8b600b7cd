"""alertd plugin: Prometheus Alertmanager's webhook receiver (``type = "alertmanager"``).

Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

from typing import Any

from alertd.plugin import hookimpl
from alertd_alertmanager.inbound_type import AlertmanagerInboundType

__version__ = "0.1.0"


@hookimpl
def alertd_inbound_types() -> list[Any]:
    return [AlertmanagerInboundType()]
