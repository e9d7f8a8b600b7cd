"""The schedule-event timer: fire the handoff notices of schedule workflows that are due, then
sleep until the next handoff. Rows and decisions live in ``alertd.handoffs``; each pass first brings
the rows in line with the config when it changed (a reload may move every next handoff)."""

from __future__ import annotations

from alertd import handoffs
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.handoffs")


async def handoff_loop(runtime: Runtime) -> None:
    store = runtime.store
    synced = None
    while True:
        wake = runtime.wakeup_event("handoffs")
        now = runtime.clock.now()
        config = runtime.config
        queued = 0
        try:
            if config is not synced:
                await store.write(lambda db, c=config, now=now: handoffs.sync(db, c, now))
                synced = config
            queued = await store.write(lambda db, c=config, now=now: handoffs.fire_due(db, c, now))
        except Exception:
            log.error("handoffs.fire_failed", exc_info=True)
        if queued:
            log.info("handoffs.queued", notifications=queued)
            runtime.wake("delivery")  # a wake-up only: the notices are committed outbox rows
        try:
            due = await store.read(handoffs.next_due)
        except Exception:  # the loop looks again within MAX_IDLE_SECONDS
            log.error("handoffs.next_due_failed", exc_info=True)
            due = None
        await runtime.idle(wake, due, more_now=False)
