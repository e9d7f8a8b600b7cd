"""Timers on alerts, beside the escalation plan: rows in ``alert_timers``, fired by the escalation loop.

A snooze's end and a workflow's time trigger ("not acknowledged 5 minutes after opening") are
rows with a due time, like escalation steps, so a restart (even after SIGKILL) neither loses nor
repeats one. One row per (alert, kind, name): setting a timer again replaces its due time.
``ref`` records the alert state the timer was set for; what fires it checks that state still
holds (a timer whose alert changed state since is skipped, not fired). The loop that fires them
is ``alertd.engine.escalation`` (one scheduler for every timer on alerts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd import claims

if TYPE_CHECKING:
    from sqlite_utils import Database

SNOOZE = "snooze"
WORKFLOW = "workflow"


def set_timer(db: Database, alert_id: int, kind: str, name: str, due: float, ref: str, now: float) -> bool:
    """Arm a timer; a timer already armed for the same ``ref`` is left alone (a replayed event sets
    nothing twice), one for another ``ref`` is re-armed. True when something was armed."""
    cursor = db.execute(
        "INSERT INTO alert_timers (alert_id, kind, name, due, state, ref, created_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?, ?) "
        "ON CONFLICT (alert_id, kind, name) DO UPDATE SET due = excluded.due, state = 'pending', "
        "ref = excluded.ref, created_at = excluded.created_at, fired_at = NULL WHERE alert_timers.ref != excluded.ref",
        [alert_id, kind, name, due, ref, now],
    )
    return cursor.rowcount == 1


def cancel(db: Database, alert_id: int, kind: str, now: float, name: str = "") -> None:
    db.execute(
        "UPDATE alert_timers SET state = 'cancelled', fired_at = ? "
        "WHERE alert_id = ? AND kind = ? AND name = ? AND state = 'pending'",
        [now, alert_id, kind, name],
    )


def take_due(db: Database, now: float, limit: int = 200) -> list[dict[str, Any]]:
    """The timers due at ``now``, each marked fired (the caller's transaction applies them)."""
    rows = [
        dict(r)
        for r in db.execute(
            claims.due_rows(
                "SELECT id, alert_id, kind, name, due, ref FROM alert_timers WHERE state = 'pending' AND due <= ? "
                "ORDER BY due LIMIT ?"
            ),
            [now, limit],
        ).fetchall()
    ]
    for row in rows:
        db.execute("UPDATE alert_timers SET state = 'fired', fired_at = ? WHERE id = ?", [now, row["id"]])
    return rows


def mark_skipped(db: Database, timer_id: int) -> None:
    db.execute("UPDATE alert_timers SET state = 'skipped' WHERE id = ?", [timer_id])


def next_due(db: Database) -> float | None:
    return db.execute("SELECT MIN(due) FROM alert_timers WHERE state = 'pending'").fetchone()[0]


def for_alert(db: Database, alert_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT id, kind, name, due, state, fired_at FROM alert_timers WHERE alert_id = ? ORDER BY id", [alert_id]
    ).fetchall()
    return [dict(r) for r in rows]
