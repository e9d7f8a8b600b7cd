"""Write transactions for code outside the daemon's writer thread (CLI, migrations)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from alertd.errors import StoreUnavailable

if TYPE_CHECKING:
    from sqlite_utils import Database


class StoreBusy(StoreUnavailable):
    """Another process held the write lock for longer than the busy timeout."""


def is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """A write transaction for code outside the writer thread (the CLI, migrations).

    ``BEGIN IMMEDIATE`` takes the write lock up front, waiting under the busy
    timeout. A plain (deferred) ``BEGIN`` would read first and then, if the daemon
    committed in between, get BUSY at once on its first write: SQLite cannot wait
    there without breaking the snapshot. Raises StoreBusy (one line) on a real timeout.
    """
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
