"""The shape shared by the timer loops whose rows live in one module: fire what is due in one
writer transaction, tell the log, then sleep until the next due time (or a wake-up). A pass after
a poll (no wake-up, nothing was due) reads the next due time first and writes only when something
is due: an idle daemon commits nothing.

``sync`` (optional) brings the rows in line with the config, once per config object: a reload
may add, remove or re-time what the rows stand for. A failed pass is logged and the loop looks
again within MAX_IDLE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from alertd.runtime import Runtime, writes_now

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config

T = TypeVar("T")


async def timer_loop(
    runtime: Runtime,
    name: str,
    log: Any,
    *,
    fire: Callable[[Database, Config, float], T],
    next_due: Callable[[Database], float | None],
    report: Callable[[T], bool],
    sync: Callable[[Database, Config, float], None] | None = None,
) -> None:
    """Run the ``name`` timer forever. ``report`` logs a pass's result and says whether it did
    work (then the loop does not pause when more is already due)."""
    store = runtime.store
    synced = None
    due: float | None = None
    woken = True  # the first pass fires what is overdue at once
    while True:
        wake = runtime.wakeup_event(name)
        now = runtime.clock.now()
        config = runtime.config
        more_now = False
        try:
            if sync is not None and config is not synced:
                await store.write(lambda db, c=config, now=now: sync(db, c, now))
                synced = config
            if not writes_now(woken, due, now):
                due = await store.read(next_due)
        except Exception:
            log.error(f"{name}.next_due_failed", exc_info=True)
            due = None
        if writes_now(woken, due, now):
            try:
                result = await store.write(lambda db, c=config, now=now: fire(db, c, now))
                more_now = report(result)
                due = await store.read(next_due)
            except Exception:
                log.error(f"{name}.fire_failed", exc_info=True)
        await runtime.idle(wake, due, more_now=more_now)
        woken = wake.is_set()
