"""A prepare lane: two threads that run ``Writer.submit_prepared``'s prepare steps, fed by one queue.

``trio.lowlevel.start_thread_soon`` gives every call an idle worker of its own by releasing
that worker's lock: a futex wake per inbound message, and the woken thread wants the GIL at
once, so the event loop's thread was often descheduled while holding it (py-spy ``--gil``,
32 concurrent SNS messages: a sixth of the trio thread's GIL time was that one release). A
lane's threads take the next job when they finish one: under load a put wakes nobody, and the
jobs (GIL-bound rule evaluation) run one after the other instead of 32 threads contending.
The event loop's thread gathers the jobs of one pass over its runnable tasks and queues them
just before it waits for I/O (alertd.loop_pass): one wake-up for them all, when that thread is
about to let go of the GIL anyway. A put per message woke the idle lane thread each time, and the
kernel often ran it at once while the loop's thread still held the GIL (two switches, and py-spy
``--gil`` found a tenth of an ingest worker's GIL time in that put).

A prepare may run long (a rule's template or regex, up to its budget): when every lane thread
has been on its job for more than ``STUCK_SECONDS``, new jobs go to threads of their own
(trio's thread cache), so one slow message does not hold up the others; at most
``SPILL_THREADS`` at once (trio.to_thread's default limit), past that they wait in the queue.
The lane is the one path of every prepare, however many are in flight.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import outcome
import trio

from alertd import loop_pass

# Two threads: a job handed over while one thread is on a slow rule (not yet STUCK_SECONDS in,
# so the job is queued, not spilled) is taken by the other at once. With one, such a job waited
# for the whole slow rule when no later hand-over saw the lane stuck (tests/test_rules_budget.py:
# an alarm waited 4 s behind another integration's slow templates). The jobs of a pass are put
# together (hand_over), so the second thread is woken at most once per pass, not per message.
THREADS = 2
# A rule evaluation takes well under a millisecond of CPU; a thread on one job this long is
# working through a slow template or regex.
STUCK_SECONDS = 0.05
# Threads of their own for jobs while every lane thread is stuck, at most this many at once.
SPILL_THREADS = 40

_STOP = object()


class Lane:
    def __init__(self, threads: int = THREADS, name: str = "alertd-prepare") -> None:
        self._count = threads
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Per thread: when its current job started (monotonic), None while it waits for one.
        self._since: list[float | None] = []
        self._closed = False
        self._spilled = 0  # jobs on threads of their own now (the lane stuck)
        self._spill_lock = threading.Lock()
        self._gathered: list[tuple[Callable[[], Any], Callable[[outcome.Outcome[Any]], object]]] = []
        self._handover: trio.abc.Instrument | None = None  # calls hand_over at each pass's end
        self._handover_run: trio.lowlevel.TrioToken | None = None  # the run it was added in

    def start_soon(self, fn: Callable[[], Any], deliver: Callable[[outcome.Outcome[Any]], object]) -> None:
        """Run ``fn()`` on a lane thread, then ``deliver(outcome)`` on that thread (the contract
        of ``trio.lowlevel.start_thread_soon``). Called on the event loop's thread: the job is
        handed over when the loop next looks for I/O (``hand_over``), with the others of that pass."""
        if self._closed:
            raise RuntimeError("the lane is closed")
        run = trio.lowlevel.current_trio_token()
        if self._handover_run is not run:
            # (again in a new trio.run: an instrument belongs to the run it was added to)
            self._handover = loop_pass.at_pass_end(self.hand_over)
            self._handover_run = run
        self._gathered.append((fn, deliver))

    def hand_over(self) -> None:
        """Queue the gathered jobs (on the event loop's thread): one wake-up of the lane's thread
        for them all, when the loop is about to wait anyway."""
        if not self._gathered:
            return
        jobs, self._gathered = self._gathered, []
        if not self._since:
            self._start()
        elif self._stuck():
            self._spill_waiting()  # those queued before it was seen stuck go first
            jobs = [job for job in jobs if not self._spill(*job)]
        for job in jobs:
            self._queue.put(job)

    def _spill_waiting(self) -> None:
        """Move the jobs waiting behind the stuck threads to threads of their own (within the bound)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP or not self._spill(*item):
                # Put back (the order of the rest does not matter: each job has its own caller).
                self._queue.put(item)
                return

    def close(self) -> None:
        """Let the threads end once the jobs queued before this are done (on the event loop's thread)."""
        if self._closed:
            return
        self.hand_over()
        self._closed = True
        loop_pass.remove(self._handover)
        self._handover = self._handover_run = None
        for _ in self._since:
            self._queue.put(_STOP)

    def _spill(self, fn: Callable[[], Any], deliver: Callable[[outcome.Outcome[Any]], object]) -> bool:
        """Run the job on a thread of its own, unless ``SPILL_THREADS`` already are."""
        with self._spill_lock:
            if self._spilled >= SPILL_THREADS:
                return False
            self._spilled += 1

        def done(result: outcome.Outcome[Any]) -> None:
            with self._spill_lock:
                self._spilled -= 1
            deliver(result)

        trio.lowlevel.start_thread_soon(fn, done)
        return True

    def _stuck(self) -> bool:
        now = time.monotonic()
        return all(since is not None and now - since > STUCK_SECONDS for since in self._since)

    def _start(self) -> None:
        self._since = [None] * self._count
        for i in range(self._count):
            threading.Thread(target=self._run, args=(i,), name=f"{self._name}-{i}", daemon=True).start()

    def _run(self, i: int) -> None:
        since = self._since
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            fn, deliver = item
            since[i] = time.monotonic()
            result = outcome.capture(fn)
            since[i] = None
            del fn, item  # nothing of the job stays alive while the thread waits
            deliver(result)
