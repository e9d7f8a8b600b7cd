"""Give freed heap memory back to the OS after a burst of large request bodies.

glibc keeps freed memory in the process heap (and raises its mmap threshold after
large frees), so RSS stays at the high-water mark of a burst, e.g. hundreds of
stalled 280 KiB bodies. ``malloc_trim`` returns the free pages; elsewhere (musl,
macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache  # on first use: ctypes.util.find_library runs ldconfig, a cost start-up need not pay
def _load_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the OS; False where the C library cannot."""
    trim = _load_trim()
    if trim is None:
        return False
    trim(0)
    return True
