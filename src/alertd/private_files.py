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
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

ENV_DIR = "ALERTD_CACHE_DIR"


def cache_dir(config_path: Path) -> Path:
    """The folder of alertd's caches for ``config_path``: ``$ALERTD_CACHE_DIR``, else systemd's
    ``$CACHE_DIRECTORY`` (``CacheDirectory=``), else ``.alertd-cache/`` beside the file."""
    chosen = os.environ.get(ENV_DIR) or os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    return Path(chosen) if chosen else config_path.parent / ".alertd-cache"


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


def read_entry(
    path: Path, max_bytes: int, loads: Callable[[bytes], Any], form: str, digest: str, fingerprint: Callable[[], Any]
) -> Any:
    """The value of a cache entry written as ``(form, fingerprint(), digest, value)``, or None when
    it is missing, refused (``read_private``), damaged, or of other bytes or other code
    (``fingerprint`` is called only when the rest matches). Never raises."""
    try:
        data = read_private(path, max_bytes)
        if data is None:  # another user could have written it (never decoded), or too large
            return None
        stored_form, stored_print, stored_digest, value = loads(data)
        if stored_form != form or stored_digest != digest or stored_print != fingerprint():
            return None
    except Exception:  # missing, corrupt, truncated, from other code: a miss
        return None
    return value


def file_stamps(files: Iterable[tuple[str, str | None]]) -> tuple[tuple[str, int | None, int | None], ...]:
    """(name, size, mtime) of each named file, (name, None, None) where it cannot be read: the part
    of a cache's fingerprint that makes its entries stale when the code that made them changes."""
    stamps = []
    for name, path in files:
        try:
            st = os.stat(path or "")
            stamps.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append((name, None, None))
    return tuple(stamps)


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


def prune_entries(directory: Path, prefix: str, keep: int, others: tuple[str, ...] = ()) -> None:
    """In ``directory``, keep the ``keep`` most recently written ``<prefix>*.pickle`` entries and
    no ``.<prefix>*`` temporary file a killed writer left (older than an hour), nor one of the
    temporary prefixes ``others`` (another cache's in the same folder)."""
    import time

    try:
        entries = []
        for item in os.scandir(directory):
            if item.name.startswith(prefix) and item.name.endswith(".pickle"):
                entries.append((item.stat().st_mtime_ns, item.path))
            elif item.name.startswith((f".{prefix}", *others)) and item.stat().st_mtime < time.time() - 3600:
                os.unlink(item.path)
        for _mtime, path in sorted(entries, reverse=True)[keep:]:
            os.unlink(path)
    except OSError:
        pass  # removed meanwhile by another writer: nothing to bound
