"""The CLI's checked tables (``config.quick_tables``) kept between calls, keyed by the file's bytes.

Every ``alertd alerts``, ``ack``, ``close``, ``inbound-log`` and ``oncall`` starts by reading the
config, and parsing a large file (1,000 schedules: 600 KB) was a quarter of such a call. The
tables ``quick_tables``/``quick_schedules`` accepted are a pure function of the file's bytes and
of those modules' code, so the result is kept (pickled) under the SHA-256 of the whole file and
a fingerprint of the code; a later call with the same bytes unpickles it instead of parsing.
Any edit changes the digest: the file is parsed and checked again, and a file that is not plainly
valid is never kept (the models judge it, with today's errors, every time). A missing, damaged,
stale or foreign entry is silently a miss.

Where: the folder of ``alertd run``'s validated-config cache (``private_files.cache_dir``:
``$ALERTD_CACHE_DIR``, ``$CACHE_DIRECTORY``, else ``.alertd-cache/`` beside the file); one
entry per config path and set of tables, read only if no other user could have written it and
written 0600 (``alertd.private_files``: unpickling runs code the file names; the entry holds
the tables' secrets, as the file does). At most ``MAX_ENTRIES`` are kept.
"""

from __future__ import annotations

import io
import os
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import alertd
from alertd.private_files import cache_dir, file_stamps, prune_entries, read_entry, write_private

try:  # pickle's C part: pickle.py's own import (its Python pickler) was a tenth of a cache hit
    from _pickle import Pickler, loads
except ImportError:
    from pickle import Pickler, loads  # type: ignore[assignment]
try:  # the builtin SHA-256, as random imports its SHA-512: hashlib's OpenSSL import cost more than hashing
    from _sha2 import sha256  # Python 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[no-redef]  # Python 3.11
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]

_FORMAT = "alertd-quick-tables/1"
# A kept entry far larger than any file's tables is not read (a bound on what is unpickled).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 16
_PREFIX = "cli-"
# The modules whose code decides what a file's tables are (beside alertd's version and Python's).
_CODE = ("config/quick_tables.py", "config/quick_schedules.py", "kinds.py", "shifts.py", "weekdays.py")


def digest_of(source: bytes) -> str:
    return sha256(source).hexdigest()


def entry_path(config_path: Path, tables: str) -> Path:
    name = sha256(f"{tables}\0{config_path}".encode()).hexdigest()[:24]
    return cache_dir(config_path) / f"{_PREFIX}{name}.pickle"


def fingerprint() -> tuple[Any, ...]:
    package = os.path.dirname(alertd.__file__ or "")
    files = file_stamps((name, os.path.join(package, name)) for name in _CODE)
    return (_FORMAT, alertd.__version__, sys.version, files)


def lookup(config_path: Path, tables: str, digest: str) -> Any:
    """The tables kept for bytes with ``digest``, or None (never raises)."""
    return read_entry(entry_path(config_path, tables), MAX_ENTRY_BYTES, loads, _FORMAT, digest, fingerprint)


def save(config_path: Path, tables: str, digest: str, checked: Any) -> bool:
    """Keep ``checked``; a folder that cannot be written (or is not private) is silently skipped."""
    entry = entry_path(config_path, tables)
    try:
        if not write_private(entry, _dumps((_FORMAT, fingerprint(), digest, _shared(checked, {}))), f".{_PREFIX}"):
            return False
    except Exception:  # a cache never stops a command
        return False
    _prune(entry.parent)
    return True


class _Pickler(Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # A named tuple made again by tuple.__new__ (C) instead of its Python __new__: with 1,000
        # schedules the entry unpickles in half the time.
        if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):
            return tuple.__new__, (type(obj), tuple(obj))
        return NotImplemented


def _dumps(value: Any) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=-1).dump(value)  # -1: the highest protocol
    return out.getvalue()


def _shared(value: Any, seen: dict[Any, Any]) -> Any:
    """``value`` with equal strings, dates and times made one object (pickled once, referenced
    after: user names and hand-off times repeat across 1,000 schedules); containers copied."""
    kind = type(value)
    if kind in (str, date, time, datetime):
        return seen.setdefault((kind, value), value)
    if kind is list:
        return [_shared(item, seen) for item in value]
    if kind is dict:
        return {_shared(key, seen): _shared(item, seen) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(kind, "_fields"):
        return kind(*(_shared(item, seen) for item in value))
    return value  # numbers, None, paths, secrets: as they are


def _prune(directory: Path) -> None:
    prune_entries(directory, _PREFIX, MAX_ENTRIES)
