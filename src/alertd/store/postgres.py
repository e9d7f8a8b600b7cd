"""The PostgreSQL backend (``[store] url``): psycopg 3's sync API, in the store's threads.

psycopg's async API does not run on trio, so the daemon uses PostgreSQL as it uses SQLite:
the writer thread owns one connection (store/writer.py: batches, a SAVEPOINT per job when
one fails, the batch run again on a serialization failure or deadlock, a new connection
after a lost one), and readers borrow connections from a psycopg_pool pool.

Module code sees the subset of sqlite-utils' ``Database`` that alertd uses: ``execute(sql,
params)`` with ``?`` placeholders, returning a cursor-like result (``fetchone``,
``fetchall``, iteration, ``rowcount``) whose rows read by index and by name like
``sqlite3.Row``. Statements are sent with client-side binding (``ClientCursor``): the
values become literals, so PostgreSQL infers their types from where they stand, as SQLite
does (``? IS NULL``, ``LIMIT ?``). Flags are integers on both backends (a Python bool is
sent as 0/1); ``numeric`` results (``SUM`` of integers) come back as int or float.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import ClientCursor
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format, TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from alertd.errors import StoreUnavailable
from alertd.log import get_logger
from alertd.store.pg_listen import NOTIFY
from alertd.store.pgurl import redacted
from alertd.store.sqlite import StoreBusy

__all__ = ["Database", "PgWriteBackend", "PoolDatabase", "connect", "translate"]

log = get_logger("alertd.store")
# The advisory lock every write transaction holds (store/schema.py's migration lock is another).
WRITE_LOCK = 0x616C6572747764  # "alertwd"
# Errors after which the same transaction, run again, may well commit.
_RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
_savepoints = itertools.count(1)

# One token at a time: a quoted literal or identifier or a comment (kept, its % doubled),
# a placeholder, a bare %, or the column name ``user`` (a reserved word in PostgreSQL).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?|%|\buser\b")


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """``sql`` as psycopg takes it: ``?`` -> ``%s`` outside quotes, ``%`` -> ``%%``, ``user`` quoted."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "user":
            return '"user"'
        return token.replace("%", "%%")

    return _TOKENS.sub(one, sql)


class Row(tuple[Any, ...]):
    """A result row read by index or by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                key = self._index[key]
            except KeyError:
                key = self._index[key.lower()]  # sqlite3.Row's names are case-insensitive
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)  # the first of two columns of one name, as sqlite3.Row
        index.setdefault(name.lower(), i)
    return type("Row", (Row,), {"__slots__": (), "_index": index})


def _row_factory(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    return _row_class(tuple(column.name for column in cursor.description))


class _NumberLoader(Loader):
    """``numeric`` (SUM, AVG) as int or float: module code does arithmetic with plain numbers."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


class _BoolDumper(Dumper):
    """True/False as 1/0: alertd's flags are integer columns on both backends."""

    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"

    def quote(self, obj: Any) -> bytes:
        return self.dump(obj)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumberLoader)
    conn.adapters.register_dumper(bool, _BoolDumper)


def _open(url: str, timeout: float) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,  # BEGIN/COMMIT are explicit, as on SQLite
            cursor_factory=ClientCursor,
            row_factory=_row_factory,
            connect_timeout=max(1, int(timeout)),
        )
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to {redacted(url)}: {_first_line(exc)}") from None
    _configure(conn)
    # How long a write waits for the write lock (another process's transaction) before giving up.
    conn.execute(f"SET lock_timeout = {max(1, int(timeout * 1000))}")
    return conn


def begin_write(conn: psycopg.Connection[Any]) -> None:
    """Begin a write transaction holding alertd's write lock until it ends: writers take turns,
    as on SQLite (BEGIN IMMEDIATE), so the daemon's batches and the CLI's writes never interleave
    (alertd's read-then-write steps rely on that). Waits at most ``lock_timeout``."""
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
    except psycopg.errors.LockNotAvailable:
        conn.execute("ROLLBACK")
        raise StoreBusy("database is busy (another process held the write lock too long)") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Result:
    """A statement's rows, fetched whole (alertd's queries are bounded by their LIMITs)."""

    __slots__ = ("_next", "_rows", "description", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int, description: Any) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.description = description

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def _run(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] | None) -> Result:
    try:
        with conn.cursor() as cur:
            cur.execute(translate(sql), list(params) if params is not None else [])
            rows = cur.fetchall() if cur.description is not None else []
            return Result(rows, cur.rowcount, cur.description)
    except _RETRYABLE:
        raise  # serialization failure, deadlock: the writer runs its batch again
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # The server went away (or shuts down, or timed out the statement): one line, and a 503
        # on the HTTP side, rather than a driver error; the cause stays attached.
        raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc


class Database:
    """A connection in the shape module code expects of sqlite-utils' ``Database``."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], *, watch_table: str | None = None, where: str = "") -> None:
        self.conn = conn
        self.where = where  # the URL without its password, for messages
        # Rows inserted into ``watch_table`` by this connection (the writer's wake-up hint).
        self.inserts = 0
        self._watch = None if watch_table is None else f"INSERT INTO {watch_table} "

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        result = _run(self.conn, sql, params)
        if self._watch is not None and sql.lstrip().startswith(self._watch):
            self.inserts += max(result.rowcount, 0)
        return result

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(?) IS NOT NULL", [name]).fetchone()[0]  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction (``alertd.store.write_transaction`` on PostgreSQL); inside one,
        a savepoint (as sqlite-utils' ``atomic``)."""
        if self.conn.info.transaction_status != TransactionStatus.IDLE:
            name = f"nested{next(_savepoints)}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                self._quietly(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        begin_write(self.conn)
        inserts = self.inserts
        try:
            yield self
            if self.inserts != inserts:  # the daemons' dispatchers read it now (store/pg_listen.py)
                self.conn.execute(NOTIFY)
            self.conn.execute("COMMIT")
        except BaseException:
            self._quietly("ROLLBACK")
            raise

    def _quietly(self, sql: str) -> None:
        """Undo on the way out of an error: a lost connection has nothing to undo (and the
        error that brought us here is the one to report)."""
        try:
            if not (self.conn.closed or self.conn.broken):
                self.conn.execute(sql)
        except psycopg.Error:
            pass

    atomic = transaction  # sqlite-utils' name (scripts and tests use it)

    def close(self) -> None:
        self.conn.close()


def connect(url: str, *, connect_timeout: float = 5.0) -> Database:
    """A connection of its own (the CLI's, the writer's); StoreUnavailable (one line) if there is none."""
    return Database(_open(url, connect_timeout), watch_table="alert_events", where=redacted(url))


class PoolDatabase:
    """The readers' ``Database``: each statement borrows a pooled connection (autocommit)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, size: int, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            kwargs={
                "autocommit": True,
                "cursor_factory": ClientCursor,
                "row_factory": _row_factory,
                "connect_timeout": max(1, int(timeout)),
            },
            configure=_configure,
            timeout=timeout,
            open=True,
            name="alertd-readers",
        )

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run a read. A pooled connection the server has dropped since (a restart, a failover)
        is found broken on use: the pool discards it, and the read is tried once more."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    try:
                        return _run(conn, sql, params)
                    except StoreUnavailable:
                        if attempt == 1 and conn.broken:
                            continue
                        raise
            except (PoolTimeout, psycopg.OperationalError) as exc:
                raise StoreUnavailable(f"database read failed: {_first_line(exc)}") from None
        raise AssertionError("unreachable")

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(?) IS NOT NULL", [name]).fetchone()[0]  # type: ignore[no-any-return]

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether the server answers within ``timeout`` seconds (``/readyz``)."""
        try:
            with self._pool.connection(timeout=timeout) as conn:
                conn.execute("SELECT 1")
            return True
        except (PoolTimeout, psycopg.Error):
            return False

    def close(self) -> None:
        self._pool.close()


class PgWriteBackend:
    """What the writer thread (store/writer.py) needs of the PostgreSQL write connection."""

    dialect = "postgresql"
    error = psycopg.Error

    def __init__(self, url: str, *, watch_table: str | None = None, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout
        self._watch_table = watch_table
        self._inserts_at_begin = 0
        self.db = Database(_open(url, timeout), watch_table=watch_table, where=redacted(url))

    @property
    def inserts(self) -> int:
        return self.db.inserts

    def begin(self) -> None:
        conn = self.db.conn
        if conn.closed or conn.broken:
            self._reconnect()
        begin_write(self.db.conn)
        self._inserts_at_begin = self.db.inserts

    def _reconnect(self) -> None:
        """A new connection in place of a lost one (the same ``db`` object: jobs hold no other)."""
        try:
            self.db.conn.close()
        except psycopg.Error:
            pass
        self.db.conn = _open(self._url, self._timeout)  # StoreUnavailable while the server is away
        log.info("store.reconnected", url=redacted(self._url))

    def execute(self, sql: str) -> None:
        self.db.conn.execute(sql)

    def commit(self) -> None:
        if self._watch_table is not None and self.db.inserts != self._inserts_at_begin:
            # Delivered to the other instances' listeners only if the COMMIT succeeds (store/pg_listen.py).
            self.db.conn.execute(NOTIFY)
        self.db.conn.execute("COMMIT")

    def rollback(self) -> None:
        try:
            if not self.db.conn.closed:
                self.db.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass

    @staticmethod
    def is_fatal(exc: BaseException) -> bool:
        """A lost connection, a server shutting down, a timeout: the transaction is gone."""
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, StoreUnavailable))

    @staticmethod
    def is_retryable(exc: BaseException) -> bool:
        return isinstance(exc, _RETRYABLE)

    def close(self) -> None:
        try:
            self.db.conn.close()
        except psycopg.Error:
            pass
