"""How one value in a log event compares with a pattern's literal (JSON and space-delimited alike).

AWS's rules: a leading or trailing ``*`` is a wildcard (``*Event``, ``Event*``, ``*html*``, ``4*``),
an inner one is literal (``Ev*ent`` matches only "Ev*ent"), a lone ``*`` matches any value;
numbers compare as numbers; ``%regex%`` searches the text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from alertd.filterpattern.scanner import NUMBER_RE, Literal

REGEX_SECONDS = 0.25
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()


def string_matcher(text: str) -> Callable[[str], bool]:
    if text == "*":
        return lambda value: True
    head, tail = text.startswith("*"), text.endswith("*") and len(text) > 1
    core = text[1 if head else 0 : -1 if tail else None]
    if head and tail:
        return lambda value: core in value
    if head:
        return lambda value: value.endswith(core)
    if tail:
        return lambda value: value.startswith(core)
    return lambda value: value == core


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMBER_RE.fullmatch(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


_NUMERIC = {
    "=": float.__eq__,
    "!=": float.__ne__,
    "<": float.__lt__,
    ">": float.__gt__,
    "<=": float.__le__,
    ">=": float.__ge__,
}


def comparison(op: str, literal: Literal) -> Callable[[Any], bool]:
    """A test of one value (a JSON node or a field's text); ABSENT, objects and arrays never match,
    not even ``!=`` (AWS: the selector must point at a value)."""
    if literal.kind == "number":
        bound, test = literal.number, _NUMERIC[op]

        def numeric(value: Any) -> bool:
            if value is ABSENT or isinstance(value, dict | list):
                return False
            number = as_number(value)
            if number is None:
                return op == "!="
            return test(number, bound)

        return numeric
    if literal.kind == "regex":
        import regex  # only for a pattern with a %regex%

        pattern = regex.compile(literal.text)

        def search(value: Any) -> bool:
            if value is ABSENT or isinstance(value, dict | list):
                return False
            try:
                found = pattern.search(as_text(value), timeout=REGEX_SECONDS, concurrent=True) is not None
            except TimeoutError:
                return False
            return found if op == "=" else not found

        return search
    matcher = string_matcher(literal.text)

    def string(value: Any) -> bool:
        if value is ABSENT or isinstance(value, dict | list):
            return False
        hit = matcher(as_text(value))
        return hit if op == "=" else not hit

    return string
