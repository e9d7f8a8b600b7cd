"""A function called once per pass of the trio event loop, around its wait for I/O.

Some parts gather what the tasks of one pass produced and act on it once: when the loop is about
to wait for I/O (``at_pass_end``: the prepare lane's jobs, an ingest pool's request frames, an
ingest worker's replies), or as soon as it is back from that wait (``at_wake``: the callers of a
writer's commits, in the pass that wakes, not a pass later). Each is a trio instrument of the run
it is added in; the function takes no argument and returns at once when there is nothing to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import trio


class _AtPassEnd(trio.abc.Instrument):
    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn

    def before_io_wait(self, timeout: float) -> None:
        self.fn()


class _AtWake(trio.abc.Instrument):
    # (A class of its own: trio calls only the hooks an instrument defines, so each pays for one.)
    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn

    def after_io_wait(self, timeout: float) -> None:
        self.fn()


def at_pass_end(fn: Callable[[], object]) -> trio.abc.Instrument:
    """Call ``fn()`` each time the running event loop is about to wait for I/O; until ``remove``."""
    instrument = _AtPassEnd(fn)
    trio.lowlevel.add_instrument(instrument)
    return instrument


def at_wake(fn: Callable[[], object]) -> trio.abc.Instrument:
    """Call ``fn()`` each time the running event loop is back from its wait for I/O, before it
    runs the tasks that are ready; until ``remove``."""
    instrument = _AtWake(fn)
    trio.lowlevel.add_instrument(instrument)
    return instrument


def remove(instrument: trio.abc.Instrument | None) -> None:
    """Stop calling it (nothing when it is None or already gone: trio drops an instrument that raised)."""
    if instrument is not None:
        with contextlib.suppress(KeyError):
            trio.lowlevel.remove_instrument(instrument)
