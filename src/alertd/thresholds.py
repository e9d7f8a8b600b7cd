"""Rule thresholds: matches of an open rule counted per group in a sliding window (SQLite rows).

Runs inside the inbound writer job, so a count and the inbound-log row that shows it commit
together, and a restart (even kill -9) loses no count. Bounded: each count first deletes the
integration's matches that left the window, and matches older than the longest window allowed
wherever they come from (an integration since removed); opening deletes the group's rows, so a
group never holds more than ``count - 1`` rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alertd.mapping import MAX_WINDOW_SECONDS, Threshold
from alertd.store.returning import inserted_id

if TYPE_CHECKING:
    from sqlite_utils import Database


def count_match(db: Database, integration: str, group: str, threshold: Threshold, now: float) -> tuple[int, int]:
    """Record one match; return (how many of the group's matches fall within the window now,
    the match's row id: ``link`` it to its inbound-log row once that exists)."""
    start = now - threshold.within_seconds
    db.execute("DELETE FROM threshold_counts WHERE at < ?", [now - MAX_WINDOW_SECONDS])
    db.execute("DELETE FROM threshold_counts WHERE integration = ? AND at <= ?", [integration, start])
    count_id = inserted_id(
        db,
        "INSERT INTO threshold_counts (integration, grp, at) VALUES (?, ?, ?) RETURNING id",
        [integration, group, now],
    )
    row = db.execute(
        # at <= now: a replay counts at the original times, beside later originals not yet replayed.
        "SELECT COUNT(*) FROM threshold_counts WHERE integration = ? AND grp = ? AND at > ? AND at <= ?",
        [integration, group, start, now],
    ).fetchone()
    return int(row[0]), count_id


def link(db: Database, count_id: int, inbound_id: int) -> None:
    db.execute("UPDATE threshold_counts SET inbound_id = ? WHERE id = ?", [inbound_id, count_id])


def forget(db: Database, inbound_id: int) -> None:
    """A message is replayed: its earlier match, if still counted, is replaced by the replay's."""
    db.execute("DELETE FROM threshold_counts WHERE inbound_id = ?", [inbound_id])


def reset(db: Database, integration: str, group: str) -> None:
    """The alert opened: its matches are spent (a later alert needs a full count again)."""
    db.execute("DELETE FROM threshold_counts WHERE integration = ? AND grp = ?", [integration, group])
