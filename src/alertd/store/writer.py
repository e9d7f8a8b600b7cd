"""The one writer: a thread that owns the write connection and commits in groups.

Callers on the trio side submit a job (a function of the sqlite-utils Database)
and await its commit. The thread takes every job waiting in the queue, runs each
inside its own SAVEPOINT (so one failing job does not undo its neighbours), then
commits them all with one COMMIT: many concurrent requests share one fsync.
A caller is answered only after the COMMIT returned, so a 2xx sent after
``await writer.submit(...)`` always describes committed state.

The connection is a backend's (store/sqlite.py SqliteWriteBackend, store/postgres.py
PgWriteBackend): it begins, commits and tells which errors doom the transaction (fail
every job of the batch) and which call for running the batch again (PostgreSQL's
serialization failures and deadlocks).
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import trio

from alertd import loop_pass
from alertd.errors import StoreUnavailable
from alertd.log import get_logger
from alertd.store.lane import Lane

__all__ = ["StoreUnavailable", "WriteBackend", "Writer"]

T = TypeVar("T")
P = TypeVar("P")
log = get_logger("alertd.store")

_STOP = object()
# Times a batch is run again after a serialization failure or deadlock before its jobs fail.
RETRIES = 3


class WriteBackend(Protocol):
    db: Any  # what jobs receive
    inserts: int  # rows inserted into the watched table so far (committed or not)
    error: type[Exception]  # the driver's base error class

    def begin(self) -> None: ...
    def execute(self, sql: str) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def is_fatal(self, exc: BaseException) -> bool: ...
    def is_retryable(self, exc: BaseException) -> bool: ...
    def close(self) -> None: ...


class _Retry(Exception):
    """The batch met a serialization failure or deadlock: run it again."""


@dataclass(eq=False)
class _Job:
    fn: Callable[[Any], Any]
    task: trio.lowlevel.Task = field(default_factory=trio.lowlevel.current_task)  # the submitter, parked
    result: Any = None
    error: BaseException | None = None
    woken: bool = False


def _cannot_abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED


class Writer:
    """Serialises all writes through one connection on one thread."""

    def __init__(self, backend: WriteBackend, max_batch: int = 256) -> None:
        self._backend = backend
        self._db = backend.db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        # Answered batches whose callers are not yet rescheduled (appended by the writer's
        # thread, taken on the event loop's: _resume_woken).
        self._woken: collections.deque[list[_Job]] = collections.deque()
        self._resumer: trio.abc.Instrument | None = None  # calls _resume_woken as the loop wakes
        self._closed = False
        self.commits = 0
        self.jobs = 0
        # Transactions begun: a job may keep what it read once per batch under this number (the
        # write lock is held from the BEGIN, so only the batch's own jobs change anything).
        self.batches = 0
        # Jobs submitted and not yet answered (waiting in the queue, or for a lock or a commit).
        self.in_flight = 0
        self._lane = Lane()  # the threads that run their prepare steps (store/lane.py)
        # Rows inserted into the backend's watched table at the last COMMIT (set before the
        # committed jobs are answered), so that a caller can tell whether a write it awaited
        # may have added some.
        self.committed_inserts = 0

    def start(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._resumer = loop_pass.at_wake(self._resume_woken)
        self._thread = threading.Thread(target=self._run, name="alertd-writer", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(db)`` in the writer thread and return its result once committed."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        job = _Job(fn)
        self.in_flight += 1
        self._queue.put(job)
        # Parked until the writer answers, cancellation refused (Abort.FAILED, as a shield): a
        # cancelled request must not abandon a job that may commit. Cheaper per request than a
        # trio.Event in a shielded CancelScope; a cancel still arrives at the next checkpoint.
        try:
            await trio.lowlevel.wait_task_rescheduled(_cannot_abort)
        finally:
            self.in_flight -= 1
        if job.error is not None:
            raise job.error
        return job.result

    async def submit_prepared(self, prepare: Callable[[], P], fn: Callable[[Any, P], T]) -> T:
        """``prepare()`` on a lane thread (store/lane.py; work that must not hold the writer: an
        inbound message's rules), then ``fn(db, prepared)`` in the writer as ``submit`` runs it. That
        thread queues the job itself, so the caller is woken once, by the commit, not also in between,
        however many are in flight (the lane queues them; its spill-over threads have their bound)."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        job = _Job(fn)

        def run() -> None:
            prepared = prepare()
            job.fn = lambda db: fn(db, prepared)
            # The caller waits (shielded) for this job, and the store closes after every task has
            # ended: the job is queued before the writer's stop.
            self._queue.put(job)

        def deliver(result: Any) -> None:
            try:
                result.unwrap()
            except BaseException as exc:  # prepare() failed: nothing was queued
                job.error = exc
                self._wake([job])

        self.in_flight += 1
        try:
            self._lane.start_soon(run, deliver)
            # Parked until the commit (or prepare's failure) answers, cancellation refused: as submit.
            await trio.lowlevel.wait_task_rescheduled(_cannot_abort)
        finally:
            self.in_flight -= 1
        if job.error is not None:
            raise job.error
        return job.result

    async def aclose(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._lane.close()  # (no prepare is under way: their callers have all returned)
        self._queue.put(_STOP)
        if self._thread is not None:
            await trio.to_thread.run_sync(self._thread.join)
        loop_pass.remove(self._resumer)
        self._resumer = None

    # --- writer thread -------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Job] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
                if stopping or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit_batch(batch)
        self._backend.close()

    def _commit_batch(self, batch: list[_Job]) -> None:
        for attempt in range(RETRIES + 1):
            try:
                self._try_batch(batch)
                return
            except _Retry as exc:
                if attempt == RETRIES:
                    self._fail(batch, exc.__cause__ or exc)
                    return
                log.info("store.batch_retried", error=str(exc.__cause__), jobs=len(batch))
                for job in batch:
                    job.result, job.error = None, None

    def _try_batch(self, batch: list[_Job]) -> None:
        """Run the batch in one transaction. Jobs rarely fail on their own, so first try without
        per-job savepoints (two statements fewer per job); if one raises, undo everything, fail
        that job, and run the others again, each in its own savepoint."""
        backend = self._backend
        if not self._begin(batch):
            return
        for job in batch:
            try:
                job.result = job.fn(self._db)
            except BaseException as exc:
                self._check(exc)
                if backend.is_fatal(exc):
                    self._abort(batch, exc)
                    return
                backend.rollback()
                job.result, job.error = None, exc
                others = [j for j in batch if j is not job]
                self._commit_isolated(others, done=[job])
                return
        self._commit(batch, batch)

    def _check(self, exc: BaseException) -> None:
        """Raise _Retry (after a rollback) when ``exc`` calls for running the batch again."""
        if self._backend.is_retryable(exc):
            self._backend.rollback()
            raise _Retry(str(exc)) from exc

    def _commit_isolated(self, batch: list[_Job], done: list[_Job]) -> None:
        backend = self._backend
        if not batch:
            self._wake(done)
            return
        if not self._begin(batch + done):
            return
        for i, job in enumerate(batch):
            savepoint = f"job{i}"
            try:
                backend.execute(f"SAVEPOINT {savepoint}")
                job.result = job.fn(self._db)
                backend.execute(f"RELEASE {savepoint}")
            except BaseException as exc:
                self._check(exc)
                if backend.is_fatal(exc):
                    self._abort(batch + done, exc)
                    return
                try:  # the job's own error: undo only this job
                    backend.execute(f"ROLLBACK TO {savepoint}")
                    backend.execute(f"RELEASE {savepoint}")
                except backend.error as rb_exc:
                    self._abort(batch + done, rb_exc)
                    return
                job.result, job.error = None, exc
        self._commit(batch, batch + done)

    def _begin(self, everyone: list[_Job]) -> bool:
        self.batches += 1
        try:
            self._backend.begin()
        except Exception as exc:
            self._fail(everyone, exc)
            return False
        return True

    def _abort(self, everyone: list[_Job], exc: BaseException) -> None:
        self._backend.rollback()
        self._fail(everyone, exc)

    def _commit(self, batch: list[_Job], everyone: list[_Job]) -> None:
        try:
            self._backend.commit()
        except Exception as exc:
            self._check(exc)
            self._abort(everyone, exc)
            return
        self.commits += 1
        self.jobs += len(batch)
        self.committed_inserts = self._backend.inserts
        self._wake(everyone)

    def _fail(self, batch: list[_Job], exc: BaseException) -> None:
        log.error("store.commit_failed", error=str(exc), jobs=len(batch))
        for job in batch:
            if job.error is None:  # a job that failed on its own keeps its own error
                job.result = None
                job.error = StoreUnavailable(f"database write failed: {exc}")
        self._wake(batch)

    def _wake(self, batch: list[_Job]) -> None:
        self._woken.append(batch)
        assert self._token is not None
        try:
            # Wakes the event loop if it waits for I/O; by the time this runs, the loop has
            # usually resumed the batch already (_resume_woken as it woke).
            self._token.run_sync_soon(self._resume_woken)
        except trio.RunFinishedError:
            pass

    def _resume_woken(self) -> None:
        """Reschedule the callers of the answered batches (on the event loop's thread), as soon as
        the loop is back from its wait for I/O, before it runs the tasks that are ready: they run in
        this pass. Through ``run_sync_soon`` alone they ran a pass later: that wait ends by readying
        trio's task for such callbacks, which reschedules them when it runs (issue 15: a quarter of a
        millisecond per commit in an ingest worker, at 8 requests in flight)."""
        woken = self._woken
        while woken:
            for job in woken.popleft():
                if not job.woken:
                    job.woken = True
                    trio.lowlevel.reschedule(job.task)
