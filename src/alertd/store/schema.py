"""Schema and forward migrations.

Each migration is a function of the write connection, applied in order inside
one transaction together with the bump of ``schema_version``; a database newer
than this code is refused rather than guessed at.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlite_utils import Database


class SchemaTooNew(Exception):
    pass


def _v1_foundation(db: Database) -> None:
    # Small persistent settings: generated integration tokens, signing keys ...
    db.execute(
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("foundation: meta", _v1_foundation),
]

SCHEMA_VERSION = len(MIGRATIONS)


def current_version(db: Database) -> int:
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` up to ``target``; return the version it is at afterwards."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied_at REAL NOT NULL
        )"""
    )
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this alertd "
            f"(knows up to {SCHEMA_VERSION}); upgrade alertd or use another database"
        )
    for number in range(version + 1, target + 1):
        description, fn = MIGRATIONS[number - 1]
        with db.atomic():
            fn(db)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                [number, description, time.time()],
            )
    return current_version(db)
