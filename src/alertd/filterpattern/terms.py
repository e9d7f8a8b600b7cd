"""Term patterns for plain text: ``ERROR``, ``"exact phrase"``, ``-Exclude``, ``?this ?that``.

Terms match anywhere in the text, case-sensitively (AWS: ``ERROR`` matches "Exiting with
ERRORCODE: -1"). Plain terms must all appear, ``-`` terms must not, and of the ``?`` terms at
least one must. Bare terms are letters, digits and ``_``; anything else goes in double quotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from alertd.filterpattern.scanner import Scanner

BARE_TERM = re.compile(r"[A-Za-z0-9_]+")
MAX_TERMS = 100


def parse_terms(scanner: Scanner) -> Callable[[str], bool]:
    s = scanner
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    while not s.at_end():
        if len(required) + len(excluded) + len(optional) >= MAX_TERMS:
            raise s.error(f"expected at most {MAX_TERMS} terms")
        bucket = required
        if s.take("?"):
            bucket = optional
        elif s.take("-"):
            bucket = excluded
        s.skip_ws()
        if s.pos < s.end and s.text[s.pos] == '"':
            term = s.quoted()
        else:
            match = BARE_TERM.match(s.text, s.pos, s.end)
            if match is None:
                raise s.error(
                    f"expected a term; found {s.found()} (put terms with characters other than "
                    'letters, digits and _ in double quotes: "ERROR:")'
                )
            term = match.group()
            s.pos = match.end()
            if s.pos < s.end and not s.text[s.pos].isspace():
                raise s.error(
                    f"expected a space after the term {term!r}; found {s.found()} (quote terms with "
                    'characters other than letters, digits and _: "ERROR:")'
                )
        bucket.append(term)

    def matches(text: str) -> bool:
        return (
            all(t in text for t in required)
            and not any(t in text for t in excluded)
            and (not optional or any(t in text for t in optional))
        )

    return matches
