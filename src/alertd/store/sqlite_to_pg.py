"""Copy a SQLite deployment into PostgreSQL (``alertd migrate-store``), offline.

The tables and their columns are read from both databases (never a fixed list), so tables a
later migration adds are copied too. Order: PostgreSQL's foreign keys (a table after the tables
it references). Each table is one ``COPY ... FROM STDIN`` fed from a SQLite cursor in batches
(memory bounded by the batch, whatever the size of the inbound log); PostgreSQL checks a
table's foreign keys at the end of its COPY, so rows referring to later rows of the same table
(``outbox.failover_of``) load in any order. Everything happens in one PostgreSQL transaction
holding alertd's write lock: a failure leaves the target as it was (empty). The SQLite side
holds its write lock (BEGIN IMMEDIATE) for the whole copy: a daemon still running cannot
write a row that the copy would miss.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertd.errors import StoreUnavailable

# Tables a migration itself fills (the schema's history, the dispatcher's cursor at 0, change
# counters at 0): in a target migrated before (by a daemon's first start), rows there are not
# data; the source's replace them. A target this command creates has only such rows, in whatever table.
SEEDED = ("schema_version", "event_cursors", "table_generations")
BATCH_ROWS = 2000
MAX_PATH_CHARS = 4096


class MigrateError(Exception):
    """A one-line reason the copy was refused or failed (the target is left as it was)."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source_rows: int
    target_rows: int
    source_max_id: int | None
    target_max_id: int | None

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_max_id == self.target_max_id


def open_source(path: Path, busy_timeout: float = 3.0) -> Any:
    """The SQLite database at ``path`` migrated to this alertd's schema (a ``Database``).
    MigrateError for a missing or unreadable file, or one that is not an alertd database."""
    from alertd.store.schema import SchemaTooNew, migrate
    from alertd.store.sqlite import connect, open_connection

    if path.is_dir():
        raise MigrateError(f"{path}: a directory, not a database file")
    if not path.is_file():
        raise MigrateError(f"{path}: no such file")
    try:
        with path.open("rb") as f:
            header = f.read(16)
    except OSError as exc:
        raise MigrateError(f"{path}: cannot read it ({exc.strerror})") from None
    if header != b"SQLite format 3\x00":
        raise MigrateError(f"{path}: not a SQLite database")
    try:
        probe = open_connection(path, readonly=True, busy_timeout=busy_timeout)
        try:
            known = probe.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise MigrateError(f"{path}: cannot read it ({exc})") from None
    if not known:
        raise MigrateError(f"{path}: not an alertd database (no schema_version table)")
    try:
        db = connect(path, busy_timeout=busy_timeout)
        migrate(db)
    except SchemaTooNew as exc:
        raise MigrateError(f"{path}: {exc}") from None
    except (sqlite3.Error, OSError) as exc:
        raise MigrateError(f"{path}: cannot open it ({exc})") from None
    return db


def source_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')] for name in names}


def target_tables(conn: Any) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position"
    ).fetchall():
        tables.setdefault(table, []).append(column)
    return tables


def target_references(conn: Any) -> dict[str, set[str]]:
    """Each table's referenced tables (foreign keys), itself excluded."""
    refs: dict[str, set[str]] = {}
    for table, referenced in conn.execute(
        "SELECT cl.relname, rf.relname FROM pg_constraint k "
        "JOIN pg_class cl ON cl.oid = k.conrelid JOIN pg_class rf ON rf.oid = k.confrelid "
        "WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace"
    ).fetchall():
        if table != referenced:
            refs.setdefault(table, set()).add(referenced)
    return refs


def dependency_order(tables: list[str], refs: dict[str, set[str]]) -> list[str]:
    """``tables`` with every table after those it references (alphabetical among equals)."""
    done: list[str] = []
    left = sorted(tables)
    while left:
        ready = [t for t in left if not (refs.get(t, set()) & set(left)) - {t}]
        if not ready:
            raise MigrateError(f"foreign keys form a cycle among: {', '.join(left)}")
        done.extend(ready)
        left = [t for t in left if t not in ready]
    return done


def schema_triggers(conn: Any) -> dict[str, list[str]]:
    """Table -> the target's triggers that the schema made (schema.POSTGRES_TRIGGERS). A trigger
    only the target has (its administrator's) is left on."""
    from alertd.store.schema import POSTGRES_TRIGGERS

    found: dict[str, list[str]] = {}
    for table, trigger in conn.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2"
    ).fetchall():
        if trigger in POSTGRES_TRIGGERS:
            found.setdefault(table, []).append(trigger)
    return found


def identity_columns(conn: Any) -> dict[str, str]:
    """Table -> its identity (or serial) column."""
    return {
        table: column
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%%')"
        ).fetchall()
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _max_id(execute: Callable[[str], Any], table: str, column: str | None) -> int | None:
    if column is None:
        return None
    value = execute(f"SELECT MAX({_quote(column)}) FROM {_quote(table)}").fetchone()[0]
    return None if value is None else int(value)


def copy_database(source: Any, target_url: str) -> list[TableCount]:
    """Copy every table of ``source`` (a migrated SQLite ``Database``) into the PostgreSQL
    database at ``target_url`` (created at the current schema if empty; refused if it holds
    data); return the per-table counts, checked before the commit. MigrateError (one line,
    target left as it was) on any failure."""
    import psycopg

    from alertd.store import postgres
    from alertd.store.pgurl import redacted
    from alertd.store.schema import SchemaTooNew, current_version, migrate

    where = redacted(target_url)
    try:
        target = postgres.connect(target_url)
    except StoreUnavailable as exc:
        raise MigrateError(str(exc)) from None
    src: sqlite3.Connection = source.conn
    try:
        try:
            created = current_version(target) == 0
            migrate(target)
        except (SchemaTooNew, StoreUnavailable, psycopg.Error) as exc:
            raise MigrateError(f"{where}: {exc}") from None
        conn = target.conn
        try:
            # The write lock on both sides until the end: nothing changes under the copy.
            src.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise MigrateError(f"the SQLite database is busy (is a daemon still running on it?): {exc}") from None
        try:
            running = running_daemon(src, time.time())
            if running is not None:
                raise MigrateError(f"a daemon is still running on the SQLite database ({running}): stop it first")
            postgres.begin_write(conn)
            try:
                counts = _copy_all(src, conn, created=created)
            except BaseException:
                target._quietly("ROLLBACK")
                raise
            if not all(c.matches for c in counts):
                target._quietly("ROLLBACK")
                return counts
            conn.execute("COMMIT")
            return counts
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MigrateError(f"copy into {where} failed, nothing was kept: {first}") from None
        except StoreUnavailable as exc:
            raise MigrateError(f"copy into {where} failed, nothing was kept: {exc}") from None
        finally:
            src.execute("ROLLBACK")  # only read: release the write lock
    finally:
        target.close()


# An instance row seen this recently on another host may be a live daemon ([cluster] lease_seconds
# is at most 600): the copy would miss what it writes next.
RECENT_SECONDS = 600.0


def running_daemon(src: sqlite3.Connection, now: float) -> str | None:
    """A daemon that looks alive by its ``instances`` row (its process on this host and pid
    namespace, or a row renewed within RECENT_SECONDS elsewhere), as one phrase; None if none."""
    from alertd.instances import pid_alive, pid_namespace

    if not src.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances'").fetchone():
        return None
    host, namespace = socket.gethostname(), pid_namespace()
    for row in src.execute("SELECT host, pid, pid_namespace, last_seen FROM instances ORDER BY last_seen DESC"):
        local = row[0] == host and namespace and row[2] == namespace
        if (local and pid_alive(row[1])) or (not local and now - row[3] < RECENT_SECONDS):
            return f"pid {row[1]} on {row[0]}, last seen {max(0, now - row[3]):.0f} s ago"
    return None


def _copy_all(src: sqlite3.Connection, conn: Any, *, created: bool) -> list[TableCount]:
    have = source_tables(src)
    want = target_tables(conn)
    seeded = set(want) if created else set(SEEDED)
    missing = sorted(set(have) - set(want))
    if missing:
        raise MigrateError(f"the target has no table {', '.join(missing)} (is it another application's database?)")
    for table in sorted(want):
        if table in seeded:
            continue
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {_quote(table)})").fetchone()[0]:
            raise MigrateError(f"the target already holds data (table {table}); give an empty database")
    for table, columns in have.items():
        extra = sorted(set(columns) - set(want[table]))
        if extra:
            raise MigrateError(f"the target's table {table} has no column {', '.join(extra)}")
    ids = identity_columns(conn)
    order = dependency_order(list(have), target_references(conn))
    ours = schema_triggers(conn)
    counts = []
    for table in order:
        columns = have[table]
        if table in seeded:
            conn.execute(f"DELETE FROM {_quote(table)}")
        names = ", ".join(_quote(c) for c in columns)
        cursor = src.execute(f"SELECT {names} FROM {_quote(table)}")  # no ORDER BY rowid: WITHOUT ROWID tables too
        # The rows already hold what the schema's triggers would write (migration 22's sets an
        # inbound-log row's alert_id as its alert is inserted): they stay off for the copy, which
        # then keeps the source's values whatever the table order. Foreign keys (internal
        # triggers) are still checked; ALTER TABLE is transactional, so a failure undoes it too.
        triggers = ours.get(table, [])
        for trigger in triggers:
            conn.execute(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER {_quote(trigger)}")
        with conn.cursor() as cur, cur.copy(f"COPY {_quote(table)} ({names}) FROM STDIN") as copy:
            while batch := cursor.fetchmany(BATCH_ROWS):
                for row in batch:
                    copy.write_row(tuple(row))
        for trigger in triggers:
            conn.execute(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER {_quote(trigger)}")
        id_column = ids.get(table)
        source_count = src.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0]
        target_count = conn.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0]
        source_max = _max_id(src.execute, table, id_column if id_column in columns else None)
        target_max = _max_id(conn.execute, table, id_column if id_column in columns else None)
        if id_column is not None and target_max is not None:
            # New rows get ids after the copied ones.
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s, true)", [_quote(table), id_column, target_max]
            )
        counts.append(TableCount(table, int(source_count), int(target_count), source_max, target_max))
    return counts
