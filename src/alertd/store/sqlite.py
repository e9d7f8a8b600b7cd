"""The SQLite backend: connections with alertd's pragmas, the write lock, the page cap.

Everything SQLite-only outside the migrations lives here (tests/test_sql_portable.py keeps
it so); the PostgreSQL twin is store/postgres.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from alertd.errors import StoreUnavailable
from alertd.store.files import create_private_file

if TYPE_CHECKING:
    from sqlite_utils import Database


class StoreBusy(StoreUnavailable):
    """Another process held the write lock for longer than the busy timeout."""


def connect(
    path: str | Path,
    *,
    synchronous: str = "FULL",
    readonly: bool = False,
    busy_timeout: float = 30.0,
    max_size_mb: float | None = None,
    create: bool = True,
) -> Database:
    """Open a connection with the pragmas every alertd connection uses."""
    from sqlite_utils import Database

    conn = open_connection(
        path,
        synchronous=synchronous,
        readonly=readonly,
        busy_timeout=busy_timeout,
        max_size_mb=max_size_mb,
        create=create,
    )
    # No sqlite-utils plugins: alertd registers none, and looking for them scans every installed
    # distribution's entry points on each connection's first use (a CLI call's time).
    return Database(conn, execute_plugins=False)


class LazyDatabase:
    """sqlite-utils' ``Database`` over ``conn``, built on the first use of anything beyond
    ``execute`` and ``conn``. The daemon's start-up (migrations check, tokens, pruning) uses only
    those, and importing sqlite-utils (it compiles large regexes) was a tenth of the time to ready:
    it now loads after ready (the web stack imports it) or on first use."""

    dialect = "sqlite"  # what the portable code asks (``getattr(db, "dialect", "sqlite")``)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._db: Database | None = None
        self._tracer: Callable[[str, Any], None] | None = None
        conn.execute("PRAGMA recursive_triggers=on")  # as sqlite-utils' Database(conn) does

    def __setattr__(self, name: str, value: Any) -> None:
        # ``_tracer`` is sqlite-utils' hook (SqliteWriteBackend counts inserts with it): it must
        # see the statements run here and those of the Database built later.
        object.__setattr__(self, name, value)
        if name == "_tracer" and self.__dict__.get("_db") is not None:
            self._db._tracer = value

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        if self._tracer is not None:
            self._tracer(sql, parameters)
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    @property
    def database(self) -> Database:
        if self._db is None:
            from sqlite_utils import Database

            # recursive_triggers is on already; no sqlite-utils plugins (see connect).
            self._db = Database(self.conn, recursive_triggers=False, execute_plugins=False, tracer=self._tracer)
        return self._db

    def __getattr__(self, name: str) -> Any:  # only for names not defined here
        return getattr(self.database, name)

    def __getitem__(self, table: str) -> Any:
        return self.database[table]

    def __repr__(self) -> str:
        return f"<LazyDatabase {self.conn!r}>"


def open_connection(
    path: str | Path,
    *,
    synchronous: str = "FULL",
    readonly: bool = False,
    busy_timeout: float = 30.0,
    max_size_mb: float | None = None,
    create: bool = True,
) -> sqlite3.Connection:
    """``connect``'s sqlite3 connection, without the sqlite-utils wrapper: for the CLI's listings,
    whose readers use only ``execute`` (sqlite-utils' import is a fifth of such a call).
    ``create=False``: the file must exist (a reader opened after the daemon's start must fail on a
    lost mount or a removed directory, not make an empty database there and read nothing)."""
    if readonly or not create:
        # A URI names the mode; the path quoted, so that a '?' or '#' in it is part of the name.
        uri = f"file:{quote(str(Path(path)))}?mode={'ro' if readonly else 'rw'}"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
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


def is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def space_used_share(db: Any) -> float:
    """How much of the page cap (PRAGMA max_page_count, from ``store.max_size_mb``) the database uses, 0..1."""
    used = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    cap = db.execute("PRAGMA max_page_count").fetchone()[0]
    return used / cap if cap else 0.0


# ``INSERT ... RETURNING id`` -> the same INSERT without RETURNING (computed once per statement).
_WITHOUT_RETURNING: dict[str, str] = {}


def inserted_rowid(db: Any, sql: str, params: Sequence[Any]) -> int:
    """``store.returning.inserted_id`` on SQLite: the INSERT without its ``RETURNING id``, the id
    from ``lastrowid``. RETURNING costs SQLite about twice the CPU of the insert of an inbound-log
    row (it buffers the row and steps once more, handing the GIL back each time: issue 15)."""
    plain = _WITHOUT_RETURNING.get(sql)
    if plain is None:
        head, returning, tail = sql.rpartition("RETURNING id")
        # One plain INSERT of one row (no ON CONFLICT: lastrowid would be a stale id on a conflict).
        assert returning and not tail.strip() and "ON CONFLICT" not in head.upper(), sql
        plain = _WITHOUT_RETURNING[sql] = head.rstrip()
    conn = getattr(db, "conn", None)
    opened = getattr(conn, "in_transaction", None) is False  # as inserted_id: commit what we opened
    row_id = db.execute(plain, params).lastrowid
    if opened and conn.in_transaction:  # type: ignore[union-attr]
        conn.execute("COMMIT")  # type: ignore[union-attr]
    return int(row_id)


def has_table(db: Any, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """``BEGIN IMMEDIATE`` takes the write lock up front, waiting under the busy timeout. A
    plain (deferred) ``BEGIN`` would read first and then, if the daemon committed in between,
    get BUSY at once on its first write: SQLite cannot wait there without breaking the
    snapshot. Raises StoreBusy (one line) on a real timeout."""
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise StoreBusy(f"database is busy (another process held the write lock too long): {exc}") from None
        raise
    try:
        yield db
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SqliteWriteBackend:
    """What the writer thread (store/writer.py) needs of the SQLite write connection."""

    dialect = "sqlite"
    error = sqlite3.Error

    def __init__(self, db: Database, watch_table: str | None = None) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.inserts = 0
        if watch_table is not None:
            # INSERT statements into ``watch_table`` run through ``db``, counted by sqlite-utils'
            # tracer (called before each statement, GIL held), as PgWriteBackend counts them. Not a
            # TEMP trigger calling a Python function: SQLite would call it inside the statement's
            # step, where the thread has let go of the GIL and must wait to take it back.
            self._watch = f"INSERT INTO {watch_table} "
            db._tracer = self._trace  # what Database(tracer=...) sets; the connection exists already

    def _trace(self, sql: str, _params: Any) -> None:
        if sql.startswith(self._watch):
            self.inserts += 1

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @staticmethod
    def is_fatal(exc: BaseException) -> bool:
        """Disk full, I/O error, read-only: the transaction itself is suspect."""
        return isinstance(exc, sqlite3.OperationalError)

    @staticmethod
    def is_retryable(exc: BaseException) -> bool:
        return False  # one writer: nobody to conflict with

    def close(self) -> None:
        self.conn.close()
