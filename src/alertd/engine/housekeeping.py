"""Housekeeping: recurring chores (inbound-log and reply-receipt pruning), fired by a trio loop like every other timer.

APScheduler is used for what it is good at: its triggers (interval, cron, with time
zones) compute each chore's next fire time. That time is stored as a row in ``meta``
(``timer:<chore>``), so it survives restarts, and this loop fires what is due. No
scheduler thread runs. With several instances on one database, the one holding the
``housekeeping`` lock does the chores.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alertd.claims import HOUSEKEEPING
from alertd.engine.instance import hold
from alertd.log import get_logger
from alertd.maintenance import prune_inbound_log, prune_reply_receipts
from alertd.runtime import Runtime

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from sqlite_utils import Database

log = get_logger("alertd.housekeeping")


@dataclass(frozen=True)
class Chore:
    name: str
    every: dict[str, int]  # IntervalTrigger's keyword arguments
    run: Callable[[Runtime], Awaitable[Any]]

    @property
    def trigger(self) -> BaseTrigger:
        # APScheduler is imported when a chore is first scheduled (after the daemon is ready),
        # not with the engine at start-up.
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(**self.every, timezone="UTC")


# The daemon also prunes once at start, before it serves (daemon.run).
CHORES: tuple[Chore, ...] = (
    Chore("prune_inbound_log", {"minutes": 60}, prune_inbound_log),
    Chore("prune_reply_receipts", {"hours": 24}, prune_reply_receipts),
)


def next_fire(trigger: BaseTrigger, fired_at: float) -> float | None:
    """When a chore that fired (or was scheduled) at ``fired_at`` fires next; None: never again."""
    at = datetime.fromtimestamp(fired_at, UTC)
    nxt = trigger.get_next_fire_time(at, at)
    return None if nxt is None else nxt.timestamp()


def _key(name: str) -> str:
    return f"timer:{name}"


def read_due(db: Database, name: str) -> float | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [_key(name)]).fetchone()
    return None if row is None else float(row[0])


def write_due(db: Database, name: str, due: float, now: float) -> None:
    db.execute(
        "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [_key(name), repr(due), now],
    )


# After a failed pass (a locked or full database), the next try comes this much later.
RETRY_SECONDS = 5.0


async def run_due_chores(runtime: Runtime, now: float) -> float | None:
    """Run the chores that are due; store each one's next fire time; return the earliest."""
    store = runtime.store
    dues: list[float] = []
    for chore in CHORES:
        due = await store.read(lambda db, n=chore.name: read_due(db, n))
        if due is not None and due <= now:
            try:
                await chore.run(runtime)
            except Exception:
                log.error("housekeeping.chore_failed", exc_info=True, chore=chore.name)
        if due is None or due <= now:
            # First start (pruned at start already) or just fired: the trigger says when next.
            due = next_fire(chore.trigger, now)
            if due is None:
                continue
            await store.write(lambda db, n=chore.name, d=due, t=now: write_due(db, n, d, t))
        dues.append(due)
    return min(dues, default=None)


async def housekeeping_loop(runtime: Runtime) -> None:
    while True:
        wake = runtime.wakeup_event("housekeeping")
        if not await hold(runtime, HOUSEKEEPING):
            # Another instance does the chores; this one looks again while that one lives.
            await runtime.idle(wake, None, more_now=False)
            continue
        now = runtime.clock.now()
        try:
            next_due = await run_due_chores(runtime, now)
        except Exception:
            # A database that cannot be written now (locked, full) must not stop the daemon.
            log.error("housekeeping.failed", exc_info=True)
            next_due = now + RETRY_SECONDS
        await runtime.idle(wake, next_due, more_now=False)
