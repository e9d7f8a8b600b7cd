"""The running daemon's shared services, handed to plugins and HTTP handlers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy
import trio

from alertd.config import Config
from alertd.instances import new_id
from alertd.log import get_logger
from alertd.store import Store

log = get_logger("alertd.runtime")

# Background loops re-read the database at least this often, so that changes made by another
# process (the CLI) are seen without a signal.
MAX_IDLE_SECONDS = 2.0


def writes_now(woken: bool, due: float | None, now: float) -> bool:
    """Whether a loop's pass goes straight to its write: it was woken (a commit gave it work) or
    the due time it slept towards has come. Otherwise (its poll) it reads the next due time first
    and writes only if that says something is due: an idle daemon commits nothing."""
    return woken or (due is not None and due <= now)


class Clock:
    """Wall-clock time in UTC seconds; tests substitute their own."""

    def now(self) -> float:
        return time.time()


@dataclass
class ClusterState:
    """This instance among the others sharing the database (engine/instance.py keeps it)."""

    instance: str = field(default_factory=new_id)
    # Set once the instance row is written (and dead instances of this host reaped): loops that
    # take over claims wait for it.
    registered: trio.Event = field(default_factory=trio.Event)
    # Set when the dispatcher stopped with its cursor saved: a clean stop releases the dispatch
    # lock after that, so that the next holder does not hand out the last events again.
    cursor_saved: trio.Event = field(default_factory=trio.Event)
    # Named locks this instance holds, each with the end of its lease (runtime clock).
    held: dict[str, float] = field(default_factory=dict)
    # When this instance last tried to take each lock.
    tried: dict[str, float] = field(default_factory=dict)


@dataclass
class Runtime:
    config: Config
    store: Store
    pm: pluggy.PluginManager
    clock: Clock = field(default_factory=Clock)
    nursery: trio.Nursery | None = None
    ready: bool = False
    # Set when something new is due earlier than the loops think (new alert, new notification).
    wakeups: dict[str, trio.Event] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    # In-process subscribers of the event dispatcher (the console's live view): each gets every
    # dispatched batch of AlertEvents, in the trio loop; must not block.
    listeners: list[Callable[[list[Any]], None]] = field(default_factory=list)
    cluster: ClusterState = field(default_factory=ClusterState)

    def __post_init__(self) -> None:
        # Every local commit may have written alert events: the dispatcher looks at once.
        self.store.on_commit = lambda: self.wake("events")

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the background; errors are logged, never fatal."""
        assert self.nursery is not None, "spawn() needs a running daemon"

        async def guarded() -> None:
            try:
                await fn(*args)
            except Exception:
                log.error("background_task.failed", exc_info=True, task=getattr(fn, "__name__", str(fn)))

        self.nursery.start_soon(guarded)

    def wake(self, loop: str) -> None:
        event = self.wakeups.get(loop)
        if event is not None:
            event.set()

    async def idle(self, wake: trio.Event, due: float | None, *, more_now: bool) -> None:
        """A loop's pause: until ``due`` (at most MAX_IDLE_SECONDS) or until ``wake`` is set.
        With ``more_now`` (the last pass did work) and something already due, no pause at all;
        otherwise at least a moment, so that a pass that could not do its due work cannot spin."""
        delay = MAX_IDLE_SECONDS if due is None else min(max(due - self.clock.now(), 0.0), MAX_IDLE_SECONDS)
        if more_now and delay == 0:
            return
        with trio.move_on_after(max(delay, 0.01)):
            await wake.wait()

    def wakeup_event(self, loop: str) -> trio.Event:
        event = trio.Event()
        self.wakeups[loop] = event
        return event
