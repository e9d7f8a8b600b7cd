"""The maintenance-window timer: end the windows whose time is up (held alerts page or stay quiet)
and write the next occurrence of each recurring window; sleep until the next end.

The rows and decisions live in ``alertd.maintenance_windows``. A window ended by hand (CLI,
API) is handled in that command's own transaction; this loop finds nothing left to do for it.
"""

from __future__ import annotations

from sqlite_utils import Database

from alertd import maintenance_windows as windows
from alertd.config import Config
from alertd.log import get_logger
from alertd.runtime import Runtime
from alertd.timeline import AlertEvent

log = get_logger("alertd.maintenance_windows")


async def maintenance_window_loop(runtime: Runtime) -> None:
    store = runtime.store
    while True:
        wake = runtime.wakeup_event("maintenance_windows")
        now = runtime.clock.now()
        config = runtime.config
        events: list[AlertEvent] = []

        def job(db: Database, config: Config = config, now: float = now) -> list[AlertEvent]:
            ended = windows.end_due(db, now)
            windows.sync_recurring(db, config, now)
            return ended

        try:
            events = await store.write(job)
        except Exception:
            log.error("maintenance_windows.failed", exc_info=True)
        if events:
            log.info("maintenance_window.ended", alerts=len(events))
        try:
            due = await store.read(windows.next_end)
        except Exception:  # the loop looks again within MAX_IDLE_SECONDS
            log.error("maintenance_windows.next_end_failed", exc_info=True)
            due = None
        await runtime.idle(wake, due, more_now=bool(events))
