"""Space-delimited filter patterns: ``[ip, user, ..., status_code = 4* && status_code != 403, bytes > 1000]``.

A log line splits at spaces into fields; text between ``"..."`` or ``[...]`` is one field (without
the quotes or brackets). Each slot of the pattern takes one field, ``...`` any number of them, and
without ``...`` the counts must agree (AWS: ``[w1=ERROR, w2]`` matches "ERROR message", not
"ERROR WARN message"). A slot is named by its first name and may hold conditions joined by ``&&``
and ``||``, which may name other slots; an empty slot matches anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from alertd.filterpattern.scanner import Scanner
from alertd.filterpattern.values import ABSENT, comparison

Fields = dict[str, str]
Test = Callable[[Fields], bool]
NAME_RE = re.compile(r"[A-Za-z0-9_]+")
ELLIPSIS = "..."
MAX_SLOTS = 100
MAX_ELLIPSES = 3
MAX_ALIGNMENTS = 1000
MAX_NESTING = 20


def split_fields(line: str, limit: int = 10_000) -> list[str]:
    fields: list[str] = []
    i, n = 0, len(line)
    while i < n and len(fields) < limit:
        if line[i].isspace():
            i += 1
            continue
        closer = {'"': '"', "[": "]"}.get(line[i])
        if closer is not None:
            end = line.find(closer, i + 1)
            if end >= 0:
                fields.append(line[i + 1 : end])
                i = end + 1
                continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        fields.append(line[i:j])
        i = j
    return fields


class DelimitedPattern:
    def __init__(self, slots: list[str | None], test: Test) -> None:
        self.slots = slots  # a name, "" for an unnamed slot, None for "..."
        self.test = test

    def _alignments(self, count: int) -> Iterator[list[int]]:
        """Each way to give the slots fields: the field index each named slot takes."""
        slots = self.slots

        def walk(si: int, fi: int, taken: list[int]) -> Iterator[list[int]]:
            if si == len(slots):
                if fi == count:
                    yield taken
                return
            if slots[si] is None:
                fixed_after = sum(1 for s in slots[si + 1 :] if s is not None)
                for skip in range(count - fi - fixed_after, -1, -1):
                    yield from walk(si + 1, fi + skip, taken)
            elif fi < count:
                yield from walk(si + 1, fi + 1, [*taken, fi])

        return walk(0, 0, [])

    def matches(self, line: str) -> bool:
        fields = split_fields(line)
        named = [s for s in self.slots if s is not None]
        for tried, taken in enumerate(self._alignments(len(fields))):
            if tried >= MAX_ALIGNMENTS:
                return False
            bound: Fields = {}
            for position, (name, index) in enumerate(zip(named, taken, strict=True), start=1):
                bound.setdefault(name or f"${position}", fields[index])
            if self.test(bound):
                return True
        return False


class DelimitedParser:
    def __init__(self, scanner: Scanner, max_regexes: int) -> None:
        self.s = scanner
        self.regexes_left = max_regexes

    def parse(self) -> DelimitedPattern:
        s = self.s
        s.expect("[", "'[' to start a space-delimited pattern")
        slots: list[str | None] = []
        tests: list[Test] = []
        while True:
            if len(slots) >= MAX_SLOTS:
                raise s.error(f"expected at most {MAX_SLOTS} fields")
            if s.take(ELLIPSIS):
                if slots.count(None) >= MAX_ELLIPSES:
                    raise s.error(f"expected at most {MAX_ELLIPSES} '...' in one pattern")
                slots.append(None)
            elif s.peek(",") or s.peek("]"):
                slots.append("")
            else:
                s.skip_ws()
                first = NAME_RE.match(s.text, s.pos, s.end)
                if first is None and not s.peek("("):
                    raise s.error(f"expected a field name, '...' or ','; found {s.found()}")
                name_holder: list[str] = []
                tests.append(self.or_expr(0, name_holder))
                slots.append(name_holder[0])
            if s.take(","):
                continue
            s.expect("]", "',' or ']'")
            break
        if not s.at_end():
            raise s.error(f"expected nothing after the pattern's ']'; found {s.found()}")
        return DelimitedPattern(slots, lambda fields: all(t(fields) for t in tests))

    def or_expr(self, depth: int, names: list[str]) -> Test:
        parts = [self.and_expr(depth, names)]
        while self.s.take("||"):
            parts.append(self.and_expr(depth, names))
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def and_expr(self, depth: int, names: list[str]) -> Test:
        parts = [self.unary(depth, names)]
        while self.s.take("&&"):
            parts.append(self.unary(depth, names))
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def unary(self, depth: int, names: list[str]) -> Test:
        s = self.s
        if s.peek("("):
            if depth >= MAX_NESTING:
                raise s.error(f"expected at most {MAX_NESTING} levels of parentheses")
            s.take("(")
            inner = self.or_expr(depth + 1, names)
            s.expect(")", "')' (or && / ||)")
            return inner
        s.skip_ws()
        match = NAME_RE.match(s.text, s.pos, s.end)
        if match is None:
            raise s.error(f"expected a field name; found {s.found()}")
        name = match.group()
        s.pos = match.end()
        names.append(name)
        op = s.operator()
        if op is None:
            if len(names) > 1:
                raise s.error(f"expected an operator (= != < > <= >=) after {name}; found {s.found()}")
            return lambda f: True
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
        return lambda f: test(f.get(name, ABSENT))
