"""``INSERT ... RETURNING id`` on either backend (a leaf: the modules that insert rows use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def inserted_id(db: Any, sql: str, params: Sequence[Any]) -> int:
    """Run ``sql`` (an INSERT ending in ``RETURNING id``) and return the new row's id. On SQLite
    the statement runs without its ``RETURNING`` (store/sqlite.py ``inserted_rowid``, which also
    commits an INSERT run outside a transaction, as sqlite-utils does for other writes)."""
    if getattr(db, "dialect", "sqlite") == "sqlite":
        from alertd.store.sqlite import inserted_rowid

        return inserted_rowid(db, sql, params)
    return int(db.execute(sql, params).fetchall()[0][0])  # PostgreSQL: its RETURNING
