"""State: one writer thread for all writes, separate connections for reads.

Two backends behind one ``Store``: SQLite (store/sqlite.py, the default: a file at
``[store] path``) and PostgreSQL (store/postgres.py, ``[store] url``). Module code
receives a ``Database`` from either and writes portable SQL with ``?`` placeholders
(tests/test_sql_portable.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alertd.errors import StoreUnavailable
from alertd.store.capacity import space_used_share
from alertd.store.schema import SCHEMA_VERSION, migrate
from alertd.store.sqlite import LazyDatabase, connect, open_connection
from alertd.store.transaction import StoreBusy, write_transaction

if TYPE_CHECKING:
    from alertd.store.writer import Writer

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "StoreBusy",
    "StoreUnavailable",
    "connect",
    "connect_settings",
    "open_connection",
    "space_used_share",
    "write_transaction",
]

T = TypeVar("T")
P = TypeVar("P")


def connect_settings(path: str | Path, settings: Any) -> Any:
    """A connection (a ``Database``) as ``[store]`` settings describe it: for the CLI."""
    if getattr(settings, "url", None) is not None:
        from alertd.store.postgres import connect as pg_connect

        return pg_connect(settings.url.get_secret_value(), connect_timeout=settings.busy_timeout_seconds)
    return connect(path, synchronous=settings.synchronous, busy_timeout=settings.busy_timeout_seconds)


class Store:
    """The daemon's handle on its database.

    ``await store.write(fn)`` runs ``fn(db)`` on the writer thread and returns once
    committed; ``await store.read(fn)`` runs ``fn(db)`` on a reader connection in a
    worker thread. ``fn`` receives a ``Database`` (sqlite-utils', or store/postgres.py's).
    """

    @classmethod
    def for_settings(cls, path: str | Path, settings: Any) -> Store:
        """The store as ``[store]`` settings describe it (the daemon's, and any process writing beside it)."""
        url = getattr(settings, "url", None)
        return cls(
            path,
            url=None if url is None else url.get_secret_value(),
            pool_size=getattr(settings, "pool_size", 4),
            synchronous=settings.synchronous,
            busy_timeout=settings.busy_timeout_seconds,
            max_size_mb=settings.max_size_mb,
        )

    def __init__(
        self,
        path: str | Path,
        *,
        url: str | None = None,
        pool_size: int = 4,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        max_size_mb: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.url = url
        self.pool_size = pool_size
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.max_size_mb = max_size_mb
        self._writer: Writer | None = None
        self._local = threading.local()
        # Every reader connection opened, with the thread that uses it now (store.reader()).
        self._readers: list[tuple[threading.Thread, Any]] = []
        self._readers_lock = threading.Lock()
        self._pool_db: Any = None
        # Called (in trio) after a committed write that may have added alert events: the
        # runtime wakes the event dispatcher.
        self.on_commit: Callable[[], None] | None = None
        self._events_seen = 0

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    @property
    def where(self) -> str:
        """The database as shown to people: the file, or the URL without its password."""
        if self.url is None:
            return str(self.path)
        from alertd.store.pgurl import redacted

        return redacted(self.url)

    def open(self) -> int:
        """Create or migrate the database (on the calling thread); return the schema version."""
        from alertd.store.writer import Writer  # trio: the daemon's, not the CLI's

        if self.url is not None:
            from alertd.store import postgres

            backend = postgres.PgWriteBackend(self.url, watch_table="alert_events", timeout=self.busy_timeout)
            version = migrate(backend.db)
            self._pool_db = postgres.PoolDatabase(self.url, size=self.pool_size, timeout=self.busy_timeout)
            self._writer = Writer(backend)
            return version
        from alertd.store.sqlite import SqliteWriteBackend

        conn = open_connection(
            self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout, max_size_mb=self.max_size_mb
        )
        db = LazyDatabase(conn)  # sqlite-utils loads after ready
        version = migrate(db)
        self._writer = Writer(SqliteWriteBackend(db, watch_table="alert_events"))
        return version

    def start(self) -> None:
        """Start the writer thread; must be called from inside trio."""
        assert self._writer is not None, "open() first"
        self._writer.start()

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer._closed

    @property
    def writer(self) -> Writer:
        assert self._writer is not None
        return self._writer

    async def write(self, fn: Callable[[Any], T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("store is not open")
        result = await self._writer.submit(fn)
        self._committed()
        return result

    async def write_prepared(self, prepare: Callable[[], P], fn: Callable[[Any, P], T]) -> T:
        """``prepare()`` on a worker thread, then ``fn(db, prepared)`` as ``write`` runs it, with
        one wake-up of the caller (Writer.submit_prepared)."""
        if self._writer is None:
            raise StoreUnavailable("store is not open")
        result = await self._writer.submit_prepared(prepare, fn)
        self._committed()
        return result

    def _committed(self) -> None:
        inserted = self._writer.committed_inserts if self._writer is not None else 0
        if inserted != self._events_seen:
            self._events_seen = inserted
            if self.on_commit is not None:
                self.on_commit()

    def reader(self) -> Any:
        """A reader connection for this thread (PostgreSQL: one that borrows from the pool per statement)."""
        if self._pool_db is not None:
            return self._pool_db
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._adopt_reader()
            self._local.db = db
        return db

    def _adopt_reader(self) -> Any:
        """The connection of a thread that has ended (trio's worker threads end after a while idle
        and new ones start under the next burst), else a new one: the count of connections (three
        open files each) stays the most threads that read at once, not every thread there ever was."""
        me = threading.current_thread()
        with self._readers_lock:
            for i, (thread, db) in enumerate(self._readers):
                if not thread.is_alive():
                    self._readers[i] = (me, db)
                    return db
        # The daemon made the file at open(): a reader never creates one (a lost mount is an error).
        db = LazyDatabase(
            open_connection(self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout, create=False)
        )
        with self._readers_lock:
            self._readers.append((me, db))
        return db

    async def read(self, fn: Callable[[Any], T]) -> T:
        import trio

        def run() -> T:
            return fn(self.reader())

        return await trio.to_thread.run_sync(run)

    async def unreachable(self) -> str | None:
        """Why the database does not answer a read now, or None (``/readyz``: a load balancer drops
        an instance that cannot reach the database it shares with the others; a 2xx on /in/ must
        mean committed). SQLite: a read on a fresh connection; PostgreSQL: a pooled ``SELECT 1``."""
        import trio

        from alertd.store.probe import PROBE_TIMEOUT_SECONDS, problem

        def probe() -> str | None:
            if self._pool_db is not None:
                return None if self._pool_db.ping(PROBE_TIMEOUT_SECONDS) else "database unreachable"
            return problem(self.path)

        with trio.move_on_after(PROBE_TIMEOUT_SECONDS + 1):
            return await trio.to_thread.run_sync(probe, abandon_on_cancel=True)
        return f"database did not answer in {PROBE_TIMEOUT_SECONDS + 1:.0f}s"

    async def aclose(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()
        if self._pool_db is not None:
            self._pool_db.close()
        with self._readers_lock:
            for _thread, db in self._readers:
                try:
                    db.conn.close()
                except Exception:
                    pass
            self._readers.clear()
