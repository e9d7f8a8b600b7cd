"""The database's place on disk: created private, and checked before a daemon relies on it.

The database holds the link secret, integration tokens and message bodies, so it is
created 0600 and missing directories 0700 whatever the umask. SQLite gives the -wal and
-shm files the mode of the database file, so they follow.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700; existing ones are left as they are."""
    missing: list[Path] = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(path, DIR_MODE)  # the umask may have taken bits away


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist (an existing file keeps its mode)."""
    make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def store_path_problem(path: Path) -> str | None:
    """Why a database at ``path`` could not be created or written, or None if it looks usable."""
    if path.is_dir():
        return f"{path} is a directory; expected a database file path"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable by this user"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path.parent}: {ancestor} is not a directory"
    # WAL mode creates -wal and -shm files beside the database, so the directory must be writable.
    if not os.access(ancestor, os.W_OK | os.X_OK):
        what = "write in" if ancestor == path.parent else "create directories in"
        return f"cannot {what} {ancestor}: permission denied"
    return None
