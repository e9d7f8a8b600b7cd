"""``INSERT ... RETURNING id`` on either backend (a leaf: the modules that insert rows use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def inserted_id(db: Any, sql: str, params: Sequence[Any]) -> int:
    """Run ``sql`` (an INSERT ending in ``RETURNING id``) and return the new row's id.

    sqlite-utils commits a write run outside a transaction, but not one that returns rows:
    such an INSERT (a test's, a script's) is committed here the same way. On SQLite the
    statement runs without its ``RETURNING`` (store/sqlite.py ``inserted_rowid``)."""
    if getattr(db, "dialect", "sqlite") == "sqlite":
        from alertd.store.sqlite import inserted_rowid

        return inserted_rowid(db, sql, params)
    conn = getattr(db, "conn", None)
    opened = getattr(conn, "in_transaction", None) is False  # sqlite3 outside a transaction
    rows = db.execute(sql, params).fetchall()  # all: SQLite ends the statement
    if opened and conn.in_transaction:  # type: ignore[union-attr]
        conn.execute("COMMIT")  # type: ignore[union-attr]
    return int(rows[0][0])
