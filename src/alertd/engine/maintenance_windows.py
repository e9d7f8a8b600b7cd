"""The maintenance-window timer: end the windows whose time is up (held alerts page or stay quiet)
and write the next occurrence of each recurring window; sleep until the next end.

The rows and decisions live in ``alertd.maintenance_windows``. A window ended by hand (CLI,
API) is handled in that command's own transaction; this loop finds nothing left to do for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alertd import maintenance_windows as windows
from alertd.config import Config
from alertd.engine.timer import timer_loop
from alertd.log import get_logger
from alertd.runtime import Runtime
from alertd.timeline import AlertEvent

if TYPE_CHECKING:
    from sqlite_utils import Database

log = get_logger("alertd.maintenance_windows")


def _end_and_plan(db: Database, config: Config, now: float) -> list[AlertEvent]:
    ended = windows.end_due(db, now)
    windows.sync_recurring(db, config, now)  # the ended windows' next occurrences
    return ended


def _report(events: list[AlertEvent]) -> bool:
    if events:
        log.info("maintenance_window.ended", alerts=len(events))
    return bool(events)


async def maintenance_window_loop(runtime: Runtime) -> None:
    def next_due(db: Database) -> float | None:
        # A recurring window whose occurrence passed (or was ended by hand) gets its next one now.
        now = runtime.clock.now()
        return now if windows.sync_needed(db, runtime.config, now) else windows.next_end(db)

    await timer_loop(
        runtime,
        "maintenance_windows",
        log,
        sync=windows.sync_recurring,  # at start and after a reload: each recurring window's row
        fire=_end_and_plan,
        next_due=next_due,
        report=_report,
    )
