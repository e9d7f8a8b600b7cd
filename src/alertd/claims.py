"""Claims and leases: how several alertd instances sharing one database divide the timed work.

Two kinds of work, two kinds of claim (every statement here also runs on PostgreSQL 15):

- Work that commits with its outcome in the transaction that found it due (escalation steps,
  alert, quiet, heartbeat, maintenance-window and handoff timers) claims its rows with a row
  lock for that transaction: ``due_rows(sql)`` adds ``ROW_LOCK`` to the SELECT of due rows. A
  crash rolls claim and work back together; there is nothing to expire. On SQLite the writer's
  ``BEGIN IMMEDIATE`` already serialises every writer of the file; on PostgreSQL every write
  transaction holds one advisory lock (store/postgres.py ``begin_write``), which serialises the
  writers of the cluster the same way. So ``ROW_LOCK`` is empty on both: with writers taking
  turns no claimer ever meets a row another one has locked, and ``FOR UPDATE SKIP LOCKED``
  would only add a row lock per due row. Were the advisory lock ever dropped (writers in
  parallel), ``ROW_LOCK`` would become " FOR UPDATE SKIP LOCKED" on PostgreSQL.
- Work that leaves its transaction (an outbox row handed to a provider; the event dispatcher
  and housekeeping, which hold a named lock) is claimed under a lease: ``claimed_by`` and
  ``claim_until`` (outbox) or a ``locks`` row (holder, until). The holder renews its leases
  every third of the lease (``renew``, from the instance loop); a dead holder stops renewing and
  its work is taken over once ``claim_until`` has passed.

Each claim is one UPDATE that repeats its claim condition in the outer WHERE: under
PostgreSQL's READ COMMITTED a claimer that waited for a row re-checks that condition on the
row's new version and skips it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

# Empty on both backends: writers take turns (SQLite's write lock; PostgreSQL's advisory write lock).
ROW_LOCK = ""

# Named locks held by one instance at a time.
DISPATCH = "dispatch"
HOUSEKEEPING = "housekeeping"


def due_rows(select: str) -> str:
    """The SELECT of due rows a transaction works on, with the row lock that claims them for it."""
    return select + ROW_LOCK


def lease_expired(until: float | None, now: float) -> bool:
    """Whether a claim or lock held until ``until`` may be taken over at ``now``."""
    return until is None or until < now


def renew_interval(lease: float) -> float:
    """How often a holder renews its leases: three chances before one lapses."""
    return lease / 3


# --- outbox rows being sent ------------------------------------------------------------------


def claim_outbox(db: Database, holder: str, now: float, lease: float | None, limit: int) -> list[int]:
    """Mark up to ``limit`` due rows 'sending' under ``holder``'s lease; their ids. Without a lease
    (one process alone), a claim lasts until its result is recorded or it goes stale."""
    cursor = db.execute(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?, claimed_by = ?, "
        "claim_until = ? WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
        f"ORDER BY next_attempt_at LIMIT ?{ROW_LOCK}) AND status = 'pending' AND next_attempt_at <= ? RETURNING id",
        [now, holder, None if lease is None else now + lease, now, limit, now],
    )
    return sorted(row[0] for row in cursor.fetchall())


def release_sends(db: Database, now: float, *, stale_before: float, mine: str = "", gone: bool = False) -> int:
    """Put back in the queue (in doubt: the send may have gone out) the rows 'sending' whose lease
    expired (except the claimer's own, ``mine``: it knows they are in flight) or whose result was
    never recorded (updated before ``stale_before``); with ``gone``, also those of holders that
    have no instance row (a clean stop, or a crash on this host)."""
    gone_sql = " OR claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM instances)" if gone else ""
    cursor = db.execute(
        "UPDATE outbox SET status = 'pending', in_doubt = 1, next_attempt_at = ?, "
        "last_error = CASE WHEN updated_at < ? THEN 'result was not recorded' "
        "ELSE 'interrupted: its sender stopped before recording the result' END, "
        "updated_at = ?, claimed_by = NULL, claim_until = NULL "
        f"WHERE status = 'sending' AND ((claim_until < ? AND claimed_by != ?) OR updated_at < ?{gone_sql})",
        [now, stale_before, now, now, mine, stale_before],
    )
    return cursor.rowcount


def next_release(db: Database, mine: str, stale_after: float) -> float | None:
    """When the next row 'sending' may be put back in the queue by ``release_sends``: another
    holder's lease ends, or a row goes stale ``stale_after`` seconds after its last update."""
    row = db.execute(
        "SELECT (SELECT MIN(claim_until) FROM outbox WHERE status = 'sending' AND claimed_by != ?), "
        "(SELECT MIN(updated_at) FROM outbox WHERE status = 'sending')",
        [mine],
    ).fetchone()
    times = [t for t in (row[0], None if row[1] is None else row[1] + stale_after) if t is not None]
    return min(times, default=None)


# --- named locks -------------------------------------------------------------------------------


def acquire(db: Database, name: str, holder: str, now: float, lease: float) -> float | None:
    """Take (or keep) lock ``name`` for ``holder`` until ``now + lease``; the new end of the lease,
    or None when another holder's lease has not expired."""
    row = db.execute(
        "INSERT INTO locks (name, holder, until) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until "
        "WHERE locks.holder = excluded.holder OR locks.until < ? RETURNING until",
        [name, holder, now + lease, now],
    ).fetchone()
    return None if row is None else float(row[0])


def release(db: Database, name: str, holder: str) -> None:
    db.execute("DELETE FROM locks WHERE name = ? AND holder = ?", [name, holder])


def renew(db: Database, holder: str, now: float, lease: float) -> dict[str, float]:
    """Extend every lease ``holder`` still has (outbox rows it is sending, its locks); the locks
    it holds, each with its new end. A lock another instance took over is not renewed."""
    until = now + lease
    db.execute("UPDATE outbox SET claim_until = ? WHERE claimed_by = ? AND status = 'sending'", [until, holder])
    rows = db.execute("UPDATE locks SET until = ? WHERE holder = ? RETURNING name", [until, holder]).fetchall()
    return {row[0]: until for row in rows}


def expire_holder(db: Database, holder: str) -> None:
    """A holder known dead (its process is gone): its leases end now, its work is taken over."""
    db.execute("UPDATE outbox SET claim_until = 0 WHERE claimed_by = ? AND status = 'sending'", [holder])
    db.execute("DELETE FROM locks WHERE holder = ?", [holder])


def held(db: Database) -> list[tuple[str, str, int]]:
    """What each holder has now: (holder, what, count) for outbox rows being sent and each lock."""
    rows = db.execute(
        "SELECT claimed_by, 'outbox rows sending', COUNT(*) FROM outbox "
        "WHERE status = 'sending' AND claimed_by IS NOT NULL GROUP BY claimed_by "
        "UNION ALL SELECT holder, 'lock ' || name, 1 FROM locks"
    ).fetchall()
    return [(row[0], row[1], int(row[2])) for row in rows]
