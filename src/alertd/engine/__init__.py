"""The daemon's long-running loops, each a small loop over database rows.

``LOOPS`` is the one list the daemon starts (after the HTTP server listens):

- ``instance``: this instance's row and the renewal of its claims and locks, when several
  instances share the database (``engine/instance.py``, ``alertd.claims``);
- ``wakeups``: on PostgreSQL, the other instances' commits wake this one's dispatcher (LISTEN/NOTIFY,
  ``engine/wakeups.py``; polling remains the fallback);
- ``events``: the dispatcher, from committed ``alert_events`` rows to plugins, metrics
  and the wake-ups of the loops below (``engine/events.py``);
- ``escalation``: fires the escalation steps that are due (``engine/escalation.py``);
- ``delivery``: sends the outbox rows that are due through their channels
  (``engine/delivery.py``);
- ``quiet``: closes alerts whose rule's ``close_after_quiet`` time passed without a match
  (``engine/quiet.py``);
- ``heartbeats``: opens an alert for each heartbeat whose ping is overdue
  (``engine/heartbeats.py``);
- ``maintenance_windows``: ends maintenance windows at their time (the alerts they held page
  or stay quiet) and writes each recurring window's next occurrence
  (``engine/maintenance_windows.py``);
- ``handoffs``: fires schedule workflows (shift starts and ends) at each schedule's next
  handoff, stored as a row (``engine/handoffs.py``);
- ``housekeeping``: recurring chores (inbound-log pruning) at times computed by
  APScheduler triggers and stored as rows (``engine/housekeeping.py``).

With several instances on one database, each loop's work is done once: timers commit with the
row lock that claims them, outbox sends are claimed under a lease, and the dispatcher and
housekeeping run on the one instance holding their named lock (``alertd.claims``).

Loops never call each other: they meet in the database. The dispatcher wakes a loop
(``runtime.wake(name)``) on seeing the event that gives it work; the one shortcut is the
escalation loop waking delivery when it queued a page (latency: it saves a dispatcher pass).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from alertd.engine.delivery import delivery_loop
from alertd.engine.escalation import escalation_loop
from alertd.engine.events import events_loop
from alertd.engine.handoffs import handoff_loop
from alertd.engine.heartbeats import heartbeat_loop
from alertd.engine.housekeeping import housekeeping_loop
from alertd.engine.instance import instance_loop
from alertd.engine.maintenance_windows import maintenance_window_loop
from alertd.engine.quiet import quiet_loop
from alertd.engine.wakeups import wakeup_loop
from alertd.runtime import Runtime

LOOPS: tuple[Callable[[Runtime], Awaitable[None]], ...] = (
    instance_loop,
    wakeup_loop,
    events_loop,
    escalation_loop,
    delivery_loop,
    quiet_loop,
    heartbeat_loop,
    maintenance_window_loop,
    handoff_loop,
    housekeeping_loop,
)

__all__ = ["LOOPS"]
