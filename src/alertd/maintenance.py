"""Periodic housekeeping on APScheduler: pruning the inbound log by its retention setting.

APScheduler's BackgroundScheduler runs jobs on its own thread; each job hands its
database work to the store's writer through trio, like any other write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from apscheduler.schedulers.background import BackgroundScheduler

from alertd import ledger
from alertd.log import get_logger

if TYPE_CHECKING:
    from alertd.runtime import Runtime

log = get_logger("alertd.maintenance")


async def prune_inbound_log(runtime: Runtime) -> int:
    days = runtime.config.raw.store.inbound_retention_days
    cutoff = runtime.clock.now() - days * 86400
    total = 0
    while True:
        removed = await runtime.store.write(lambda db: ledger.prune(db, cutoff))
        total += removed
        if removed == 0:
            break
    if total:
        log.info("inbound_log.pruned", rows=total, older_than_days=days)
    return total


def start_scheduler(runtime: Runtime) -> BackgroundScheduler:
    token = trio.lowlevel.current_trio_token()

    def in_trio(fn: object) -> None:
        try:
            trio.from_thread.run(fn, runtime, trio_token=token)  # type: ignore[arg-type]
        except trio.RunFinishedError:
            pass
        except Exception:
            log.error("maintenance.job_failed", exc_info=True, job=getattr(fn, "__name__", "?"))

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        in_trio,
        "interval",
        args=[prune_inbound_log],
        minutes=60,
        id="prune_inbound_log",
        coalesce=True,
        max_instances=1,
    )
    scheduler.start()
    return scheduler
