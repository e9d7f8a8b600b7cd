"""The close_after_quiet timer: close the alerts whose quiet time is up, then sleep until the next.

Timers are rows (alertd.quiet); this loop re-reads them at least every MAX_IDLE_SECONDS, so a
timer set by a message just received is seen without a wake-up (the earliest one is minutes away).
"""

from __future__ import annotations

from alertd.log import get_logger
from alertd.quiet import fire_due, next_due
from alertd.runtime import Runtime

log = get_logger("alertd.quiet")


async def quiet_loop(runtime: Runtime) -> None:
    store = runtime.store
    while True:
        wake = runtime.wakeup_event("quiet")
        events: list = []
        try:
            due = await store.read(next_due)
        except Exception:  # the loop looks again within MAX_IDLE_SECONDS
            log.error("quiet.next_due_failed", exc_info=True)
            due = None
        now = runtime.clock.now()
        if due is not None and due <= now:  # a write (and its commit) only when a timer is due
            try:
                events = await store.write(lambda db, now=now: fire_due(db, now))
                due = await store.read(next_due)
            except Exception:
                log.error("quiet.fire_failed", exc_info=True)
        await runtime.idle(wake, due, more_now=bool(events))
