"""``alertd backup FILE``: a consistent copy of the database, safe while the daemon runs.

SQLite's online backup API copies the database in one step inside a read transaction: in
WAL mode that blocks no writer, and the copy is the database as of one commit (never half a
transaction). The copy is written to a temporary file beside FILE, checked with
``PRAGMA integrity_check``, switched to a self-contained rollback journal (no -wal file
needed), made 0600, fsync'd and only then renamed to FILE. A failed backup leaves no FILE.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class BackupError(Exception):
    """A backup that was refused or failed; the message is one line for the operator."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    schema_version: int
    alerts: int
    inbound_messages: int
    seconds: float


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_destination(database: Path, dest: Path, *, force: bool) -> Path:
    """The absolute destination, or BackupError saying why it is refused."""
    dest = dest.expanduser().absolute()
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; give a file name, e.g. {dest / 'alertd-backup.db'}")
    for own in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if dest == own.absolute() or _same_file(dest, own):
            raise BackupError(f"{dest} is the live database (or its WAL/SHM file); choose another file")
    if not dest.parent.is_dir():
        raise BackupError(f"directory {dest.parent} does not exist")
    if (dest.exists() or dest.is_symlink()) and not force:
        raise BackupError(f"{dest} exists; use --force to overwrite it")
    if not os.access(dest.parent, os.W_OK):
        raise BackupError(f"directory {dest.parent} is not writable")
    return dest


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def backup(database: Path, dest: Path, *, force: bool = False, busy_timeout: float = 30.0) -> BackupResult:
    """Copy ``database`` to ``dest`` (see the module docstring)."""
    started = time.monotonic()
    database = database.absolute()
    if not database.is_file():
        raise BackupError(f"no database at {database} (store.path)")
    dest = check_destination(database, dest, force=force)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            source = sqlite3.connect(str(database), timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot open {database}: {exc}") from None
        try:
            target = sqlite3.connect(str(tmp))
            try:
                source.backup(target)  # pages=-1: all in one step, one consistent snapshot
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise BackupError(f"backup of {database} failed: {exc}") from None
        finally:
            source.close()
        result = verify(tmp)
        os.chmod(tmp, 0o600)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(dest, dest.stat().st_size, *result, seconds=time.monotonic() - started)


def verify(path: Path) -> tuple[int, int, int]:
    """``PRAGMA integrity_check`` of a backup; (schema version, alerts, inbound messages)."""
    from alertd.store.sqlite import open_connection

    try:
        conn = open_connection(path, readonly=True, busy_timeout=5.0)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot verify the copy: {exc}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"integrity check of the copy failed: {'; '.join(problems[:3])}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

        def count(sql: str, table: str) -> int:
            return int(conn.execute(sql).fetchone()[0] or 0) if table in tables else 0

        return (
            count("SELECT MAX(version) FROM schema_version", "schema_version"),
            count("SELECT COUNT(*) FROM alerts", "alerts"),
            count("SELECT COUNT(*) FROM inbound_log", "inbound_log"),
        )
    except sqlite3.Error as exc:
        raise BackupError(f"cannot verify the copy: {exc}") from None
    finally:
        conn.close()
