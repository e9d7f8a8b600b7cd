"""Is the database reachable? A cheap read on a fresh connection, for ``/readyz``: a load
balancer drops an instance that cannot reach the database it shares with the others."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# A probe's read waits this long for a lock; the caller bounds the whole probe too.
PROBE_TIMEOUT_SECONDS = 2.0


def problem(path: Path, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when a read of ``path`` works now, else one line saying why not."""
    from alertd.store.sqlite import open_connection

    try:
        conn = open_connection(path, readonly=True, busy_timeout=timeout)
        try:
            conn.execute("SELECT 1 FROM schema_version LIMIT 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"database unreachable: {exc}"
    return None
