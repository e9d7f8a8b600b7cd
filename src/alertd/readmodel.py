"""What a person reads about one entity, built once for every reader (``alertd alerts show`` and
``GET /api/v1/alerts/<id>``), so the CLI and the API cannot drift apart. Reads only."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from alertd import alerts, escalation, outbox


def alert_detail(db: Database, alert_id: int) -> dict[str, Any] | None:
    """The alert row with its ``timeline`` (oldest first), escalation ``escalation`` plan (None when it
    has none) and ``notifications`` (outbox rows, oldest first); None when there is no such alert."""
    alert = alerts.get(db, alert_id)
    if alert is None:
        return None
    return {
        **alert,
        "timeline": alerts.timeline(db, alert_id),
        "escalation": escalation.plan(db, alert_id),
        "notifications": outbox.for_alert(db, alert_id),
    }
