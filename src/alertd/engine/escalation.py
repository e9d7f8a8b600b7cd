"""The alert timer loop: fire the escalation steps and the alert timers that are due, then sleep
until the next one.

One scheduler for every timer on an alert: escalation steps (plans in ``alertd.escalation``),
snooze ends and workflow time triggers (rows in ``alertd.alert_timers``). A pass fires what is
due in one writer transaction when woken or at the due time; a poll reads the due time first. The dispatcher
wakes it when an alert opens (its first step is due now) or a timer is set; otherwise it re-reads
the rows at least every MAX_IDLE_SECONDS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alertd import alert_actions, alert_timers
from alertd.config import Config
from alertd.escalation import fire_due, next_due
from alertd.log import get_logger
from alertd.runtime import Runtime, writes_now
from alertd.timeline import AlertEvent

if TYPE_CHECKING:
    from sqlite_utils import Database

log = get_logger("alertd.escalation")


def fire_timers(db: Database, config: Config, now: float) -> list[AlertEvent]:
    """Apply every alert timer due at ``now`` (inside the caller's transaction). A timer whose
    alert changed state since it was set is marked skipped."""
    events: list[AlertEvent] = []
    for timer in alert_timers.take_due(db, now):
        fired: list[AlertEvent] | None = None  # None: its alert changed state, the timer is skipped
        if timer["kind"] == alert_timers.SNOOZE:
            fired = alert_actions.end_snooze(db, timer["alert_id"], timer["ref"], now) or None
        elif timer["kind"] == alert_timers.WORKFLOW:
            from alertd import workflows

            fired = workflows.run_timer(db, config, timer, now)
        if fired is None:
            alert_timers.mark_skipped(db, timer["id"])
        events += fired or []
    return events


def fire_all(db: Database, config: Config, now: float) -> tuple[list[AlertEvent], int]:
    events, queued = fire_due(db, config, now)
    return events + fire_timers(db, config, now), queued


def next_any(db: Database) -> float | None:
    times = [t for t in (next_due(db), alert_timers.next_due(db)) if t is not None]
    return min(times) if times else None


async def escalation_loop(runtime: Runtime) -> None:
    store = runtime.store
    due: float | None = None
    woken = True  # the first pass fires what is overdue at once
    while True:
        wake = runtime.wakeup_event("escalation")
        now = runtime.clock.now()
        events: list[AlertEvent] = []
        if not writes_now(woken, due, now):
            try:
                due = await store.read(next_any)
            except Exception:  # the loop looks again within MAX_IDLE_SECONDS
                log.error("escalation.next_due_failed", exc_info=True)
                due = None
        if writes_now(woken, due, now):
            try:
                events, queued = await store.write(lambda db, now=now: fire_all(db, runtime.config, now))
                if queued:
                    # The page's hot path: delivery need not wait for the dispatcher's pass over the
                    # 'escalated' event (which wakes it too). A wake-up only; no effect leaves here.
                    runtime.wake("delivery")
                due = await store.read(next_any)
            except Exception:
                log.error("escalation.fire_failed", exc_info=True)
        await runtime.idle(wake, due, more_now=bool(events))
        woken = wake.is_set()
