"""A rule's regular expression, checked when the config loads and compiled by ``regex`` on first use.

Rules run their regexes with the ``regex`` module (it releases the GIL and honours a timeout), and
importing it took 12-19 ms of the time to ready for the one shipped rule that has a regex. The
pattern is checked at load by ``re`` (the dialect and messages the operator is told about, as
before). Two kinds are compiled just after ready (``compile_waiting``, the daemon's post-ready
step) or at first use, whichever is first: a plugin's own patterns (tested with the plugin), and
every pattern when ``alertd run`` starts from a kept entry (``deferred``: those bytes were compiled
in full before). Every other pattern (``check-config``, a reload, a worker, a first start) is
compiled at once (``compile_now``), so a pattern ``re`` accepts and ``regex`` refuses
(``[[:foo:]]``) is refused with its key path.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# False while ``alertd run`` loads its config at start (``deferred``).
_eager: ContextVar[bool] = ContextVar("lazy_regex_eager", default=True)


@contextmanager
def deferred() -> Iterator[None]:
    """Patterns made inside are compiled on first use or by ``compile_waiting``, not at once."""
    token = _eager.set(False)
    try:
        yield
    finally:
        _eager.reset(token)


def eager() -> bool:
    return _eager.get()


# Every LazyRegex alive, for ``compile_waiting``. Patterns are made on other threads (a reload, a
# maintenance window's match) while compile_waiting lists them on a worker thread: a set that
# grows while it is listed raises RuntimeError, so both take the lock.
_made: weakref.WeakSet[LazyRegex] = weakref.WeakSet()
_made_lock = threading.RLock()


class LazyRegex:
    """Stands for ``regex.compile(pattern, IGNORECASE if ignore_case else 0)``."""

    __slots__ = ("__weakref__", "_compiled", "ignore_case", "pattern")

    def __init__(self, pattern: str, ignore_case: bool) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        self._compiled: Any = None
        with _made_lock:
            _made.add(self)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def _compile(self) -> Any:
        compiled = self._compiled
        if compiled is None:  # two threads may both compile: the same result, kept once
            import regex

            compiled = self._compiled = regex.compile(self.pattern, regex.IGNORECASE if self.ignore_case else 0)
        return compiled

    def compile_now(self) -> None:
        """Compile it now: ``regex.error`` if ``regex`` refuses the pattern."""
        self._compile()

    def search(self, text: str, **kwargs: Any) -> Any:
        return self._compile().search(text, **kwargs)


def compile_waiting() -> int:
    """Compile every pattern not compiled yet; returns how many."""
    done = 0
    with _made_lock:
        waiting = list(_made)
    for lazy in waiting:
        if not lazy.compiled:
            lazy._compile()
            done += 1
    return done
