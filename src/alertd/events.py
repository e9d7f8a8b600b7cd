"""Alert events: what the lifecycle tells plugins after a change is committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AlertEvent:
    """One committed change to an alert (see hookspecs.alertd_alert_event).

    ``kind``: opened, appended, acknowledged, closed, reopened, escalated,
    notification_failed. ``actor``: who or what did it (an integration name, a
    user name, ``escalation``). ``via``: the path (source, api, cli, sms, voice,
    link, email, rule). ``alert``: the alert row after the change.
    """

    kind: str
    alert_id: int
    actor: str
    via: str
    at: float
    alert: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
