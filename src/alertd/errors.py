"""Errors that cross layers (a leaf: imports nothing), so that catching one needs no heavy import.

The CLI catches ``StoreUnavailable`` around every command; importing it from here keeps trio
and sqlite-utils out of commands that never open the database (``--help``, ``check-config``).
"""


class StoreUnavailable(Exception):
    """The database could not commit (locked, read-only, disk full, closed)."""


def reason(exc: BaseException) -> str:
    """The cause in words: ``Address already in use``, not ``[Errno 98] ...`` or a repr."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
