"""How full the database is, on either backend (a leaf: the inbound log asks it on each unknown token)."""

from __future__ import annotations

from typing import Any


def space_used_share(db: Any) -> float:
    """How much of the database's size cap is used, 0..1 (SQLite's ``max_size_mb``; PostgreSQL has none)."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        return 0.0
    from alertd.store.sqlite import space_used_share as sqlite_share

    return sqlite_share(db)
