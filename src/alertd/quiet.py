"""close_after_quiet: close an alert when no message matched its open rule for a while.

One timer row per alert (``quiet_timers``), set when a message opens the alert and moved on
by each later one, in the same writer job; the quiet loop (engine/quiet.py) closes what is
due, writing the ``closed`` event in that transaction. A timer whose alert was closed some
other way is just dropped when it comes due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alertd import apply, claims
from alertd.durations import words
from alertd.timeline import AlertEvent

if TYPE_CHECKING:
    from sqlite_utils import Database


def arm(db: Database, alert_id: int, integration: str, quiet_seconds: float, now: float) -> None:
    db.execute(
        """INSERT INTO quiet_timers (alert_id, integration, due_at, quiet_seconds) VALUES (?, ?, ?, ?)
           ON CONFLICT (alert_id) DO UPDATE SET due_at = excluded.due_at, quiet_seconds = excluded.quiet_seconds""",
        [alert_id, integration, now + quiet_seconds, quiet_seconds],
    )


def fire_due(db: Database, now: float, limit: int = 100) -> list[AlertEvent]:
    rows = db.execute(
        claims.due_rows(
            "SELECT alert_id, integration, quiet_seconds FROM quiet_timers WHERE due_at <= ? ORDER BY due_at LIMIT ?"
        ),
        [now, limit],
    ).fetchall()
    events: list[AlertEvent] = []
    for alert_id, integration, quiet_seconds in rows:
        db.execute("DELETE FROM quiet_timers WHERE alert_id = ?", [alert_id])
        status = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()
        if status is None or status[0] == "closed":
            continue
        reason = f"no matching message for {words(quiet_seconds)} (close_after_quiet)"
        events.extend(apply.close(db, alert_id, integration, "rule", now, reason=reason))
    return events


def next_due(db: Database) -> float | None:
    row = db.execute("SELECT MIN(due_at) FROM quiet_timers").fetchone()
    return None if row is None or row[0] is None else float(row[0])
