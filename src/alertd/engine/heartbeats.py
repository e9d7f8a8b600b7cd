"""The heartbeat timer: open an alert for each heartbeat past its deadline, then sleep until the next.

The rows and decisions live in ``alertd.heartbeats``. Each pass first brings the rows in
line with the config (a reload may add, remove or re-time heartbeats); a ping moves a
deadline later, never earlier, so the loop needs no wake-up for it.
"""

from __future__ import annotations

from alertd import heartbeats
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.heartbeats")


async def heartbeat_loop(runtime: Runtime) -> None:
    store = runtime.store
    synced = None
    while True:
        wake = runtime.wakeup_event("heartbeats")
        now = runtime.clock.now()
        config = runtime.config
        missed: list[tuple[str, int]] = []
        try:
            if config is not synced:
                await store.write(lambda db, c=config, now=now: heartbeats.sync(db, c, now))
                synced = config
            missed = await store.write(lambda db, c=config, now=now: heartbeats.fire_due(db, c, now))
        except Exception:
            log.error("heartbeats.fire_failed", exc_info=True)
        for name, alert_id in missed:
            log.warning("heartbeat.missed", heartbeat=name, alert_id=alert_id)
        try:
            due = await store.read(heartbeats.next_due)
        except Exception:  # the loop looks again within MAX_IDLE_SECONDS
            log.error("heartbeats.next_due_failed", exc_info=True)
            due = None
        await runtime.idle(wake, due, more_now=bool(missed))
