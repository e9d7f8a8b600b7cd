"""The schedule-event timer: fire the handoff notices of schedule workflows that are due, then
sleep until the next handoff. Rows and decisions live in ``alertd.handoffs``; each pass first brings
the rows in line with the config when it changed (a reload may move every next handoff)."""

from __future__ import annotations

from alertd import handoffs
from alertd.engine.timer import timer_loop
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.handoffs")


async def handoff_loop(runtime: Runtime) -> None:
    def report(queued: int) -> bool:
        if queued:
            log.info("handoffs.queued", notifications=queued)
            runtime.wake("delivery")  # a wake-up only: the notices are committed outbox rows
        return False  # the next handoff of a schedule is a shift away

    await timer_loop(
        runtime,
        "handoffs",
        log,
        sync=handoffs.sync,
        fire=handoffs.fire_due,
        next_due=handoffs.next_due,
        report=report,
    )
