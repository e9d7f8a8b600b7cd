"""JSON filter patterns: ``{ ($.a.b = "x*") && ($.n >= 10 || $.c[0].d IS TRUE) }``.

Parsed into a tree of closures; precedence as AWS documents it: parentheses, then ``&&``, then ``||``.
Selectors: ``$.name`` then ``.name`` or ``[N]`` steps; names of letters, digits, ``-`` and ``_``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from alertd.filterpattern.scanner import Scanner
from alertd.filterpattern.values import ABSENT, comparison

Test = Callable[[Any], bool]
NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
INDEX_RE = re.compile(r"\d{1,6}")
MAX_NESTING = 20
MAX_SELECTOR_STEPS = 32


def _walk(steps: tuple[str | int, ...]) -> Callable[[Any], Any]:
    def get(doc: Any) -> Any:
        node = doc
        for step in steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return ABSENT
            elif not isinstance(node, dict) or step not in node:
                return ABSENT
            node = node[step]
        return node

    return get


class JsonParser:
    def __init__(self, scanner: Scanner, max_regexes: int) -> None:
        self.s = scanner
        self.regexes_left = max_regexes

    def parse(self) -> Test:
        s = self.s
        s.expect("{", "'{' to start a JSON pattern")
        test = self.or_expr(0)
        s.expect("}", "'}' (or && / ||) to end the JSON pattern")
        if not s.at_end():
            raise s.error(f"expected nothing after the JSON pattern's '}}'; found {s.found()}")
        return test

    def or_expr(self, depth: int) -> Test:
        parts = [self.and_expr(depth)]
        while self.s.take("||"):
            parts.append(self.and_expr(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda doc: any(p(doc) for p in parts)

    def and_expr(self, depth: int) -> Test:
        parts = [self.unary(depth)]
        while self.s.take("&&"):
            parts.append(self.unary(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(p(doc) for p in parts)

    def unary(self, depth: int) -> Test:
        s = self.s
        if s.peek("("):
            if depth >= MAX_NESTING:
                raise s.error(f"expected at most {MAX_NESTING} levels of parentheses")
            s.take("(")
            inner = self.or_expr(depth + 1)
            s.expect(")", "')' (or && / ||)")
            return inner
        return self.comparison()

    def selector(self) -> Callable[[Any], Any]:
        s = self.s
        s.skip_ws()
        if not s.text.startswith("$.", s.pos):
            raise s.error(f"expected a selector such as $.eventName, or '('; found {s.found()}")
        s.pos += 1
        steps: list[str | int] = []
        while s.pos < s.end and s.text[s.pos] in ".[":
            if len(steps) >= MAX_SELECTOR_STEPS:
                raise s.error(f"expected a selector of at most {MAX_SELECTOR_STEPS} steps")
            if s.text[s.pos] == ".":
                match = NAME_RE.match(s.text, s.pos + 1, s.end)
                if match is None:
                    raise s.error("expected a property name (letters, digits, '-', '_') after '.'", s.pos + 1)
                steps.append(match.group())
                s.pos = match.end()
            else:
                match = INDEX_RE.match(s.text, s.pos + 1, s.end)
                if match is None or not s.text.startswith("]", match.end()):
                    raise s.error("expected an array index such as [0]", s.pos)
                if not steps:
                    raise s.error("expected a property before an array index ($.name[0])", s.pos)
                steps.append(int(match.group()))
                s.pos = match.end() + 1
        if not steps:
            raise s.error("expected a property after '$' ($.name)")
        return _walk(tuple(steps))

    def comparison(self) -> Test:
        s = self.s
        get = self.selector()
        s.skip_ws()
        at = s.pos
        if s.keyword("IS"):
            which = s.keyword("TRUE", "FALSE", "NULL")
            if which is None:
                raise s.error(f"expected TRUE, FALSE or NULL after IS; found {s.found()}")
            want: Any = {"TRUE": True, "FALSE": False, "NULL": None}[which]
            return lambda doc: get(doc) is want  # JSON true/false/null are singletons
        if s.keyword("NOT"):
            if s.keyword("EXISTS") is None:
                raise s.error(f"expected EXISTS after NOT; found {s.found()}")
            return lambda doc: get(doc) is ABSENT
        op = s.operator()
        if op is None:
            raise s.error(f"expected an operator (= != < > <= >=, IS, NOT EXISTS); found {s.found()}", at)
        s.skip_ws()
        value_at = s.pos
        literal = s.literal()
        if literal.kind != "number" and op not in ("=", "!="):
            raise s.error(f"expected a number after {op}; strings compare with = or != only", value_at)
        if literal.kind == "regex":
            self.regexes_left -= 1
            if self.regexes_left < 0:
                raise s.error("expected at most 2 regular expressions in one pattern (a CloudWatch quota)", value_at)
        test = comparison(op, literal)
        return lambda doc: test(get(doc))
