"""What the mapper decides, in words shared by the inbound log, the lifecycle and the CLI.

Kept apart from the rule compiler (``alertd.mapping``) so that reading or acting on alerts does
not import jinja2, regex and the filter-pattern parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Outcomes recorded in the inbound log (AlertOps vocabulary).
MAPPED_OPEN = "Mapped Open"
MAPPED_APPENDED = "Mapped Appended"
MAPPED_ACKNOWLEDGED = "Mapped Acknowledged"
MAPPED_CLOSED = "Mapped Closed"
FILTERED = "Filtered"
UNMAPPED = "Unmapped"
SUBSCRIPTION_CONFIRMATION = "Subscription Confirmation"
UNSUBSCRIBE_CONFIRMATION = "Unsubscribe Confirmation"
REJECTED = "Rejected"
DUPLICATE_DELIVERY = "Duplicate Delivery"
COUNTED = "Counted"  # below a rule's threshold: "Counted (2 of 3)"
OUTCOMES = (
    MAPPED_OPEN,
    MAPPED_APPENDED,
    MAPPED_ACKNOWLEDGED,
    MAPPED_CLOSED,
    FILTERED,
    UNMAPPED,
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    REJECTED,
    DUPLICATE_DELIVERY,
    COUNTED,
)


@dataclass(frozen=True)
class OpenAlert:
    """What the mapper needs to know about an alert that is not closed."""

    id: int
    status: Literal["open", "acknowledged"]
    # Found through a merge: the source's own alert was merged into this one.
    merged: bool = False


Action = Literal["open", "append", "ack", "close", "filtered", "unmapped", "counted"]


@dataclass(frozen=True)
class Decision:
    action: Action
    outcome: str
    source_id: str | None = None
    alert_id: int | None = None
    title: str = ""
    description: str = ""
    severity: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "outcome": self.outcome,
            "source_id": self.source_id,
            "alert_id": self.alert_id,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "url": self.url,
            "tags": list(self.tags),
            "fields": dict(self.fields),
            "reason": self.reason,
        }
