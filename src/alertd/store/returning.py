"""``INSERT ... RETURNING id`` on either backend (a leaf: the modules that insert rows use it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def inserted_id(db: Any, sql: str, params: Sequence[Any]) -> int:
    """Run ``sql`` (an INSERT ending in ``RETURNING id``) and return the new row's id. On SQLite
    the statement runs without its ``RETURNING`` (store/sqlite.py ``inserted_rowid``, which also
    commits an INSERT run outside a transaction, as sqlite-utils does for other writes)."""
    if getattr(db, "dialect", "sqlite") == "sqlite":
        return (_INSERTED_ROWID or _inserted_rowid())(db, sql, params)
    return int(db.execute(sql, params).fetchall()[0][0])  # PostgreSQL: its RETURNING


_INSERTED_ROWID: Callable[[Any, str, Sequence[Any]], int] | None = None


def _inserted_rowid() -> Callable[[Any, str, Sequence[Any]], int]:
    """``store.sqlite.inserted_rowid``, imported on first use and kept (an import statement at
    each insert ran the import machinery, some 2 µs, two or three times per inbound message)."""
    global _INSERTED_ROWID
    if _INSERTED_ROWID is None:
        from alertd.store.sqlite import inserted_rowid

        _INSERTED_ROWID = inserted_rowid
    return _INSERTED_ROWID
