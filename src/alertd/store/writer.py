"""The one writer: a thread that owns the write connection and commits in groups.

Callers on the trio side submit a job (a function of the sqlite-utils Database)
and await its commit. The thread takes every job waiting in the queue, runs each
inside its own SAVEPOINT (so one failing job does not undo its neighbours), then
commits them all with one COMMIT: many concurrent requests share one fsync.
A caller is answered only after the COMMIT returned, so a 2xx sent after
``await writer.submit(...)`` always describes committed state.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio
from sqlite_utils import Database

from alertd.errors import StoreUnavailable
from alertd.log import get_logger

__all__ = ["StoreUnavailable", "Writer"]

T = TypeVar("T")
log = get_logger("alertd.store")

_STOP = object()


@dataclass(eq=False)
class _Job:
    fn: Callable[[Database], Any]
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


class Writer:
    """Serialises all writes through one connection on one thread."""

    def __init__(self, db: Database, max_batch: int = 256, watch_table: str | None = None) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._closed = False
        self.commits = 0
        self.jobs = 0
        # Jobs submitted and not yet answered (waiting in the queue, or for a lock or a commit).
        self.in_flight = 0
        # Rows inserted into ``watch_table`` (counted by a TEMP trigger on this connection), so
        # that a caller can tell whether a write it awaited may have added some.
        self.watched_inserts = 0
        # Its value at the last COMMIT (set before the committed jobs are answered).
        self.committed_inserts = 0
        if watch_table is not None:
            db.conn.create_function("alertd_count_insert", 0, self._count_insert)
            db.conn.execute(
                f"CREATE TEMP TRIGGER IF NOT EXISTS count_{watch_table} AFTER INSERT ON main.{watch_table} "
                "BEGIN SELECT alertd_count_insert(); END"
            )

    def _count_insert(self) -> None:
        self.watched_inserts += 1

    def start(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._run, name="alertd-writer", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn(db)`` in the writer thread and return its result once committed."""
        if self._closed:
            raise StoreUnavailable("store is closed")
        job = _Job(fn)
        self.in_flight += 1
        self._queue.put(job)
        # Shielded: a cancelled request must not abandon a job that may commit.
        try:
            with trio.CancelScope(shield=True):
                await job.done.wait()
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
        self._queue.put(_STOP)
        if self._thread is not None:
            await trio.to_thread.run_sync(self._thread.join)

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
        self._db.conn.close()

    def _commit_batch(self, batch: list[_Job]) -> None:
        """Run the batch in one transaction. Jobs rarely fail on their own, so first try without
        per-job savepoints (two statements fewer per job); if one raises, undo everything, fail
        that job, and run the others again, each in its own savepoint."""
        conn: sqlite3.Connection = self._db.conn
        if not self._begin(conn, batch):
            return
        for job in batch:
            try:
                job.result = job.fn(self._db)
            except sqlite3.OperationalError as exc:
                self._abort(conn, batch, exc)
                return
            except BaseException as exc:
                self._rollback(conn)
                job.result, job.error = None, exc
                others = [j for j in batch if j is not job]
                self._commit_isolated(others, done=[job])
                return
        self._commit(conn, batch, batch)

    def _commit_isolated(self, batch: list[_Job], done: list[_Job]) -> None:
        conn: sqlite3.Connection = self._db.conn
        if not batch:
            self._wake(done)
            return
        if not self._begin(conn, batch + done):
            return
        for i, job in enumerate(batch):
            savepoint = f"job{i}"
            try:
                conn.execute(f"SAVEPOINT {savepoint}")
                job.result = job.fn(self._db)
                conn.execute(f"RELEASE {savepoint}")
            except sqlite3.OperationalError as exc:
                # Disk full, I/O error, read-only: the transaction itself is suspect.
                self._abort(conn, batch + done, exc)
                return
            except BaseException as exc:  # the job's own error: undo only this job
                try:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                except sqlite3.Error as rb_exc:
                    self._abort(conn, batch + done, rb_exc)
                    return
                job.result, job.error = None, exc
        self._commit(conn, batch, batch + done)

    def _begin(self, conn: sqlite3.Connection, everyone: list[_Job]) -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail(everyone, exc)
            return False
        return True

    def _abort(self, conn: sqlite3.Connection, everyone: list[_Job], exc: BaseException) -> None:
        self._rollback(conn)
        self._fail(everyone, exc)

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job], everyone: list[_Job]) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort(conn, everyone, exc)
            return
        self.commits += 1
        self.jobs += len(batch)
        self.committed_inserts = self.watched_inserts
        self._wake(everyone)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _fail(self, batch: list[_Job], exc: BaseException) -> None:
        log.error("store.commit_failed", error=str(exc), jobs=len(batch))
        for job in batch:
            if job.error is None:  # a job that failed on its own keeps its own error
                job.result = None
                job.error = StoreUnavailable(f"database write failed: {exc}")
        self._wake(batch)

    def _wake(self, batch: list[_Job]) -> None:
        def wake_all() -> None:
            for job in batch:
                job.done.set()

        assert self._token is not None
        try:
            self._token.run_sync_soon(wake_all)
        except trio.RunFinishedError:
            pass
