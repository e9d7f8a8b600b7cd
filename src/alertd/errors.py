"""Errors that cross layers (a leaf: imports nothing), so that catching one needs no heavy import.

The CLI catches ``StoreUnavailable`` around every command; importing it from here keeps trio
and sqlite-utils out of commands that never open the database (``--help``, ``check-config``).
"""


class StoreUnavailable(Exception):
    """The database could not commit (locked, read-only, disk full, closed)."""
