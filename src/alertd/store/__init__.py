"""SQLite state: one writer thread for all writes, separate connections for reads."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alertd.errors import StoreUnavailable
from alertd.store.files import create_private_file
from alertd.store.schema import SCHEMA_VERSION, migrate
from alertd.store.transaction import StoreBusy, is_locked, write_transaction

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.store.writer import Writer

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "StoreBusy",
    "StoreUnavailable",
    "connect",
    "open_connection",
    "write_transaction",
]

T = TypeVar("T")


def connect(
    path: str | Path,
    *,
    synchronous: str = "FULL",
    readonly: bool = False,
    busy_timeout: float = 30.0,
    max_size_mb: float | None = None,
) -> Database:
    """Open a connection with the pragmas every alertd connection uses."""
    from sqlite_utils import Database

    conn = open_connection(
        path, synchronous=synchronous, readonly=readonly, busy_timeout=busy_timeout, max_size_mb=max_size_mb
    )
    # No sqlite-utils plugins: alertd registers none, and looking for them scans every installed
    # distribution's entry points on each connection's first use (a CLI call's time).
    return Database(conn, execute_plugins=False)


def open_connection(
    path: str | Path,
    *,
    synchronous: str = "FULL",
    readonly: bool = False,
    busy_timeout: float = 30.0,
    max_size_mb: float | None = None,
) -> sqlite3.Connection:
    """``connect``'s sqlite3 connection, without the sqlite-utils wrapper: for the CLI's listings,
    whose readers use only ``execute`` (sqlite-utils' import is a fifth of such a call)."""
    if readonly:
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False, timeout=30)
    else:
        create_private_file(Path(path))
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    if not readonly:
        _use_wal(conn, busy_timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if max_size_mb is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={max(1, int(max_size_mb * 1024 * 1024 / page_size))}")
    conn.row_factory = sqlite3.Row
    return conn


def _use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL once. WAL is persistent, so a connection that finds it on has nothing
    to do; switching needs an exclusive lock and SQLite answers BUSY at once (without the
    busy handler) when a second process opens a fresh database at the same moment: retry."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
        if time.monotonic() > deadline:
            raise StoreBusy("database is busy: could not switch it to WAL mode within the busy timeout")
        time.sleep(0.02)


class Store:
    """The daemon's handle on its database.

    ``await store.write(fn)`` runs ``fn(db)`` on the writer thread and returns once
    committed; ``await store.read(fn)`` runs ``fn(db)`` on a reader connection in a
    worker thread. ``fn`` receives a sqlite-utils ``Database``.
    """

    @classmethod
    def for_settings(cls, path: str | Path, settings: Any) -> Store:
        """The store as ``[store]`` settings describe it (the daemon's, and any process writing beside it)."""
        return cls(
            path,
            synchronous=settings.synchronous,
            busy_timeout=settings.busy_timeout_seconds,
            max_size_mb=settings.max_size_mb,
        )

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        max_size_mb: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.max_size_mb = max_size_mb
        self._writer: Writer | None = None
        self._local = threading.local()
        self._readers: list[Database] = []
        self._readers_lock = threading.Lock()
        # Called (in trio) after a committed write that may have added alert events: the
        # runtime wakes the event dispatcher.
        self.on_commit: Callable[[], None] | None = None
        self._events_seen = 0

    def open(self) -> int:
        """Create or migrate the database (on the calling thread); return the schema version."""
        db = connect(
            self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout, max_size_mb=self.max_size_mb
        )
        version = migrate(db)
        from alertd.store.writer import Writer  # trio: the daemon's, not the CLI's

        self._writer = Writer(db, watch_table="alert_events")
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

    async def write(self, fn: Callable[[Database], T]) -> T:
        if self._writer is None:
            raise StoreUnavailable("store is not open")
        result = await self._writer.submit(fn)
        inserted = self._writer.committed_inserts
        if inserted != self._events_seen:
            self._events_seen = inserted
            if self.on_commit is not None:
                self.on_commit()
        return result

    def reader(self) -> Database:
        """This thread's reader connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path, synchronous=self.synchronous, busy_timeout=self.busy_timeout)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    async def read(self, fn: Callable[[Database], T]) -> T:
        import trio

        def run() -> T:
            return fn(self.reader())

        return await trio.to_thread.run_sync(run)

    async def aclose(self) -> None:
        if self._writer is not None:
            await self._writer.aclose()
        with self._readers_lock:
            for db in self._readers:
                try:
                    db.conn.close()
                except sqlite3.Error:
                    pass
            self._readers.clear()
