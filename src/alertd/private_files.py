"""Files alertd reads back from a cache directory, opened only if no other user could have written them.

The validated-config cache is unpickled (unpickling runs code the file names) and the entry-point
cache names modules to import: a directory such as ``/tmp/.alertd-cache`` created by another user,
or a folder writable by a group, must not let them choose that code. So a cache file is read only
if its folder and the file itself are owned by this process's (effective) user and writable by no
group or other; the folder is opened first and the file relative to it (no swap in between).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def is_private(st: os.stat_result) -> bool:
    """Owned by this process's user and writable by nobody else."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def private_dir(path: Path) -> bool:
    try:
        return is_private(os.stat(path))
    except OSError:
        return False


def open_private(path: Path) -> BinaryIO | None:
    """``path`` opened for reading, or None if it or its folder fails ``is_private``.
    OSError (missing, unreadable) propagates."""
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if not is_private(os.fstat(dir_fd)):
            return None
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    fh = os.fdopen(fd, "rb")
    if not is_private(os.fstat(fd)):
        fh.close()
        return None
    return fh


def read_private(path: Path, max_bytes: int) -> bytes | None:
    """The contents of ``path``, or None if ``open_private`` refuses it or it is larger than
    ``max_bytes`` (a bound on what is decoded). OSError (missing, unreadable) propagates."""
    opened = open_private(path)
    if opened is None:
        return None
    with opened as fh:
        if os.fstat(fh.fileno()).st_size > max_bytes:
            return None
        return fh.read()


def write_private(path: Path, data: bytes, temporary_prefix: str) -> bool:
    """Replace ``path`` with ``data`` atomically (a temporary file, 0600, renamed over it: a reader
    sees the old contents or the new, whole), its folder made 0700 if missing. False, writing
    nothing, if the folder is one ``read_private`` would refuse (its files would never be read).
    OSError propagates."""
    import tempfile  # only when writing (after ready)

    from alertd.store.files import make_private_dirs  # not imported before alertd.code_cache is on

    make_private_dirs(path.parent)
    if not private_dir(path.parent):
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix, suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
