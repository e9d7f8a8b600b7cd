"""CloudWatch Logs filter patterns, evaluated in alertd (pure: no I/O).

``compile_pattern(text)`` parses one pattern as AWS documents it ("Filter pattern syntax for
metric filters, subscription filters, filter log events, and Live Tail") and returns a
``FilterPattern`` whose ``matches(event)`` says whether one log event matches; a pattern
CloudWatch would reject raises ``FilterPatternError`` with the character position.

Which syntax: ``{ ... }`` is a JSON pattern (json_pattern.py), ``[ ... ]`` space-delimited
(delimited.py), ``%regex%`` a regular expression, anything else terms (terms.py); an empty
pattern matches every event. An event is a text line or an already-parsed JSON value: JSON
patterns parse text (bounded nesting), the others read JSON values as compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alertd import jsonlimits
from alertd.filterpattern.delimited import DelimitedParser
from alertd.filterpattern.errors import FilterPatternError
from alertd.filterpattern.json_pattern import JsonParser
from alertd.filterpattern.scanner import Literal, Scanner
from alertd.filterpattern.terms import parse_terms
from alertd.filterpattern.values import comparison

__all__ = ["MAX_PATTERN_CHARS", "FilterPattern", "FilterPatternError", "compile_pattern"]

# The API's limit for filterPattern (PutMetricFilter, PutSubscriptionFilter).
MAX_PATTERN_CHARS = 1024
MAX_REGEXES = 2  # per JSON or space-delimited pattern: a CloudWatch quota


@dataclass(frozen=True)
class FilterPattern:
    text: str
    kind: str  # "json" | "delimited" | "regex" | "terms" | "all"
    _test: Callable[[Any], bool]

    def matches(self, event: Any) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "json":
            if isinstance(event, str | bytes):
                try:
                    event = jsonlimits.loads(event)
                except (ValueError, RecursionError):
                    return False
            return self._test(event)
        return self._test(event_text(event))


def event_text(event: Any) -> str:
    if isinstance(event, bytes):
        return event.decode("utf-8", "replace")
    if isinstance(event, str):
        return event
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def compile_pattern(text: str) -> FilterPattern:
    if len(text) > MAX_PATTERN_CHARS:
        raise FilterPatternError(MAX_PATTERN_CHARS, f"expected a pattern of at most {MAX_PATTERN_CHARS} characters")
    scanner = Scanner(text)
    if scanner.at_end():
        return FilterPattern(text, "all", lambda event: True)
    if scanner.peek("{"):
        return FilterPattern(text, "json", JsonParser(scanner, MAX_REGEXES).parse())
    if scanner.peek("["):
        return FilterPattern(text, "delimited", DelimitedParser(scanner, MAX_REGEXES).parse().matches)
    if scanner.peek("%"):
        literal = Literal("regex", scanner.regex())
        if not scanner.at_end():
            raise scanner.error(f"expected nothing after the regular expression's closing '%'; found {scanner.found()}")
        return FilterPattern(text, "regex", comparison("=", literal))
    return FilterPattern(text, "terms", parse_terms(scanner))
