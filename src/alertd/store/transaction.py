"""Write transactions for code outside the daemon's writer thread (CLI, migrations)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from alertd.store.sqlite import StoreBusy, is_locked
from alertd.store.sqlite import write_transaction as sqlite_write_transaction

__all__ = ["StoreBusy", "is_locked", "write_transaction"]


def write_transaction(db: Any) -> AbstractContextManager[Any]:
    """A write transaction for code outside the writer thread (the CLI, migrations), on either
    backend: ``with write_transaction(db): ...`` commits at the end, rolls back on an error.
    On SQLite it takes the write lock up front (StoreBusy, one line, on a real timeout)."""
    if getattr(db, "dialect", "sqlite") == "postgresql":  # store/postgres.py's Database
        return db.transaction()  # type: ignore[no-any-return]
    return sqlite_write_transaction(db)
