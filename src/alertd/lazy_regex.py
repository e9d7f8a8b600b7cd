"""A rule's regular expression, checked when the config loads and compiled by ``regex`` on first use.

Rules run their regexes with the ``regex`` module (it releases the GIL and honours a timeout), and
importing it took 12-19 ms of the time to ready for the one shipped rule that has a regex. The
pattern is checked at load by ``re`` (the dialect and messages the operator is told about, as
before); ``regex`` compiles it just after ready (``compile_waiting``, the daemon's post-ready
step) or at its first use, whichever is first.
"""

from __future__ import annotations

import weakref
from typing import Any

# Every LazyRegex alive, for ``compile_waiting``.
_made: weakref.WeakSet[LazyRegex] = weakref.WeakSet()


class LazyRegex:
    """Stands for ``regex.compile(pattern, IGNORECASE if ignore_case else 0)``."""

    __slots__ = ("__weakref__", "_compiled", "ignore_case", "pattern")

    def __init__(self, pattern: str, ignore_case: bool) -> None:
        self.pattern = pattern
        self.ignore_case = ignore_case
        self._compiled: Any = None
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

    def search(self, text: str, **kwargs: Any) -> Any:
        return self._compile().search(text, **kwargs)


def compile_waiting() -> int:
    """Compile every pattern not compiled yet; returns how many."""
    done = 0
    for lazy in list(_made):
        if not lazy.compiled:
            lazy._compile()
            done += 1
    return done
