"""The alert timeline's vocabulary: the kinds of change and the event that records one.

A leaf module (of alertd it imports only the leaf jsontext). Every change to an alert is a row of
``alert_events`` written in the transaction that makes the change; the event
dispatcher (``alertd.engine.events``) reads those rows after commit and hands them
to plugins, metrics and the other loops. Every kind here is documented in
``hookspecs.alertd_alert_event`` (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from alertd.jsontext import dumps

if TYPE_CHECKING:
    from sqlite_utils import Database


class EventKind(StrEnum):
    # Lifecycle (alerts.py)
    OPENED = "opened"
    REOPENED = "reopened"
    APPENDED = "appended"
    ACKNOWLEDGED = "acknowledged"
    ACK_REPEATED = "ack_repeated"
    CLOSED = "closed"
    # Escalation plan (escalation.py)
    ESCALATED = "escalated"
    LEVEL_SKIPPED = "level_skipped"
    ESCALATION_STOPPED = "escalation_stopped"
    ESCALATION_EXHAUSTED = "escalation_exhausted"
    # Delivery (outbox.py)
    NOTIFIED = "notified"
    NOTIFICATION_RETRY_SCHEDULED = "notification_retry_scheduled"
    NOTIFICATION_DELIVERED = "notification_delivered"
    NOTIFICATION_FAILED = "notification_failed"
    NOTIFICATION_FAILOVER = "notification_failover"
    NOTIFICATION_EXHAUSTED = "notification_exhausted"
    # Owners (routing.py): paged because the alert has no escalation policy
    OWNERS_PAGED = "owners_paged"
    # Maintenance windows (maintenance_windows.py)
    MAINTENANCE_SUPPRESSED = "maintenance_suppressed"
    MAINTENANCE_ENDED = "maintenance_ended"
    # Actions by people and workflows (alert_actions.py)
    SNOOZED = "snoozed"
    UNACKNOWLEDGED = "unacknowledged"
    ESCALATION_REQUESTED = "escalation_requested"
    REASSIGNED = "reassigned"
    NOTE_ADDED = "note_added"
    MERGED = "merged"
    DUPLICATE_MERGED = "duplicate_merged"
    # Workflows (workflows.py)
    WORKFLOW_ACTION = "workflow_action"


@dataclass(frozen=True)
class AlertEvent:
    """One committed change to an alert (see hookspecs.alertd_alert_event).

    ``id``: the row id in ``alert_events``, increasing; delivery to plugins is at
    least once, so a plugin deduplicates by it (None only before the row is read
    back). ``actor``: who or what did it (an integration name, a user name,
    ``escalation``). ``via``: the path (source, api, cli, sms, voice, link, email,
    rule, engine, a channel name). ``alert``: the alert row when the event is
    dispatched (filled only when some plugin listens).
    """

    kind: str
    alert_id: int
    actor: str
    via: str
    at: float
    alert: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def add_event(db: Database, alert_id: int, kind: str, actor: str, via: str, at: float, /, **detail: Any) -> AlertEvent:
    """Append to the alert's timeline, in the caller's transaction: the event dispatcher hands it
    on after commit. The first six are positional-only, so ``detail`` may use any key."""
    kind = EventKind(kind)  # a kind outside the Enum (undocumented for plugins) is a bug: fail the write
    db.execute(
        "INSERT INTO alert_events (alert_id, at, kind, actor, via, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [alert_id, at, str(kind), actor, via, dumps(detail)],
    )
    return AlertEvent(kind=str(kind), alert_id=alert_id, actor=actor, via=via, at=at, detail=detail)
