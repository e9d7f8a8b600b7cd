"""Running instances: one row per daemon sharing the database (``alertd cluster`` lists them).

A daemon inserts its row at start (``register``), renews ``last_seen`` with its leases every
third of ``[cluster] lease_seconds`` and deletes the row at a clean stop. A row whose
``last_seen`` is older than the lease is stale: that instance's claims are being taken over.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertd import claims

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlite_utils import Database

# Rows not seen for this long are dropped by a live instance (until then they show as stale).
FORGET_SECONDS = 24 * 3600.0


def new_id() -> str:
    """Unique per start: host, pid and a random part (a restart with the same pid is a new id)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def config_hash(path: Path) -> str:
    """sha256 of the config file's bytes, as read now ('' when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def pid_namespace() -> str:
    """Which processes ``pid`` is counted among: the pid namespace (two containers may share a host
    name) of this kernel's boot (on PostgreSQL, two machines may share a host name too, and every
    machine's first pid namespace has the same inode number). '' where unknown, and then no other
    instance is ever judged dead by its pid."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return ""
    return f"{namespace} boot {boot}" if boot else ""


def is_stale(last_seen: float, now: float, lease: float) -> bool:
    return now - last_seen > lease


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def register(db: Database, instance: str, version: str, digest: str, now: float) -> None:
    host, pid = socket.gethostname(), os.getpid()
    db.execute(
        "INSERT INTO instances (id, host, pid, pid_namespace, version, config_hash, started_at, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, "
        "config_hash = excluded.config_hash",
        [instance, host, pid, pid_namespace(), version, digest, now, now],
    )


def reap_local(db: Database, instance: str, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Instances on this host (and pid namespace) whose process is gone (killed before it could
    delete its row): their leases end now, so that a restarted daemon takes its own work back at
    once instead of after the lease. Returns their ids."""
    namespace = pid_namespace()
    if not namespace:
        return []
    dead = [
        row[0]
        for row in db.execute(
            "SELECT id, pid FROM instances WHERE host = ? AND pid_namespace = ? AND id != ?",
            [socket.gethostname(), namespace, instance],
        ).fetchall()
        if not alive(row[1])
    ]
    for other in dead:
        claims.expire_holder(db, other)
        db.execute("DELETE FROM instances WHERE id = ?", [other])
    return dead


def heartbeat(db: Database, instance: str, version: str, digest: str, now: float, lease: float) -> dict[str, float]:
    """Renew this instance's row and leases (one transaction); the locks it holds, with their end."""
    register(db, instance, version, digest, now)
    db.execute("DELETE FROM instances WHERE last_seen < ?", [now - FORGET_SECONDS])
    return claims.renew(db, instance, now, lease)


def unregister(db: Database, instance: str) -> None:
    """A clean stop: its leases end at once (the others need not wait for them to expire)."""
    claims.expire_holder(db, instance)
    db.execute("DELETE FROM instances WHERE id = ?", [instance])


def listing(db: Any) -> list[dict[str, Any]]:
    """Every instance row, oldest start first, each with what it holds (``held``: [(what, count)])."""
    rows = [
        dict(r)
        for r in db.execute(
            "SELECT id, host, pid, version, config_hash, started_at, last_seen FROM instances ORDER BY started_at, id"
        ).fetchall()
    ]
    holds: dict[str, list[tuple[str, int]]] = {}
    for holder, what, count in claims.held(db):
        holds.setdefault(holder, []).append((what, count))
    for row in rows:
        row["held"] = sorted(holds.get(row["id"], []))
    return rows
