"""The escalation timer: fire the steps that are due, then sleep until the next one.

The plan and its decisions live in ``alertd.escalation``; this loop only drives
``fire_due`` over time. The dispatcher wakes it when an alert opens (its first
step is due now); otherwise it re-reads the plans at least every MAX_IDLE_SECONDS.
"""

from __future__ import annotations

from alertd.escalation import fire_due, next_due
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.escalation")


async def escalation_loop(runtime: Runtime) -> None:
    store = runtime.store
    while True:
        wake = runtime.wakeup_event("escalation")
        now = runtime.clock.now()
        try:
            events, queued = await store.write(lambda db, now=now: fire_due(db, runtime.config, now))
        except Exception:
            log.error("escalation.fire_failed", exc_info=True)
            events, queued = [], 0
        if queued:
            # The page's hot path: delivery need not wait for the dispatcher's pass over the
            # 'escalated' event (which wakes it too). A wake-up only; no effect leaves here.
            runtime.wake("delivery")
        try:
            due = await store.read(next_due)
        except Exception:  # the loop looks again within MAX_IDLE_SECONDS
            log.error("escalation.next_due_failed", exc_info=True)
            due = None
        await runtime.idle(wake, due, more_now=bool(events))
