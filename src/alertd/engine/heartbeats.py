"""The heartbeat timer: open an alert for each heartbeat past its deadline, then sleep until the next.

The rows and decisions live in ``alertd.heartbeats``. Each pass first brings the rows in
line with the config (a reload may add, remove or re-time heartbeats); a ping moves a
deadline later, never earlier, so the loop needs no wake-up for it.
"""

from __future__ import annotations

from alertd import heartbeats
from alertd.engine.timer import timer_loop
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.heartbeats")


def _report(missed: list[tuple[str, int]]) -> bool:
    for name, alert_id in missed:
        log.warning("heartbeat.missed", heartbeat=name, alert_id=alert_id)
    return bool(missed)


async def heartbeat_loop(runtime: Runtime) -> None:
    await timer_loop(
        runtime,
        "heartbeats",
        log,
        sync=heartbeats.sync,
        fire=heartbeats.fire_due,
        next_due=heartbeats.next_due,
        report=_report,
    )
