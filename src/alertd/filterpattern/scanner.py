"""Characters -> the small tokens every filter pattern syntax shares: quoted strings, bare
values, %regex%, comparison operators; each with its position for error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alertd.filterpattern.errors import FilterPatternError

NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# AWS: bare strings hold letters and digits; the examples add '.', '*', '-', '_' (123.123.*, 4*).
BARE_CHARS = re.compile(r"[A-Za-z0-9_.*:/+-]+")
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
# AWS's regex dialect: no parentheses, no multi-byte characters, a few symbols.
REGEX_CHARS = re.compile(r"[A-Za-z0-9_#=@/;,:\- ^$?\[\]{}|\\*+.]*")


@dataclass(frozen=True)
class Literal:
    """A value on the right of an operator: a string (maybe with * wildcards), a number, a regex."""

    kind: str  # "string" | "number" | "regex"
    text: str
    number: float = 0.0


class Scanner:
    def __init__(self, text: str, pos: int = 0, end: int | None = None) -> None:
        self.text = text
        self.pos = pos
        self.end = len(text) if end is None else end

    def error(self, message: str, pos: int | None = None) -> FilterPatternError:
        return FilterPatternError(self.pos if pos is None else pos, message)

    def skip_ws(self) -> None:
        while self.pos < self.end and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= self.end

    def peek(self, word: str) -> bool:
        self.skip_ws()
        return self.text.startswith(word, self.pos) and self.pos + len(word) <= self.end

    def take(self, word: str) -> bool:
        if self.peek(word):
            self.pos += len(word)
            return True
        return False

    def expect(self, word: str, what: str | None = None) -> None:
        if not self.take(word):
            raise self.error(f"expected {what or repr(word)}; found {self.found()}")

    def found(self) -> str:
        self.skip_ws()
        if self.pos >= self.end:
            return "the end of the pattern"
        return repr(self.text[self.pos : self.pos + 12])

    def keyword(self, *words: str) -> str | None:
        """One of ``words`` as a whole word (IS, TRUE, NOT ...)."""
        self.skip_ws()
        for word in words:
            stop = self.pos + len(word)
            whole = stop == self.end or not (self.text[stop].isalnum() or self.text[stop] == "_")
            if self.text.startswith(word, self.pos) and stop <= self.end and whole:
                self.pos = stop
                return word
        return None

    def operator(self) -> str | None:
        self.skip_ws()
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def quoted(self) -> str:
        """A double-quoted string (\\" and \\\\ escape); the scanner is on the opening quote."""
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < self.end:
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < self.end:
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if ch == '"':
                return "".join(out)
            out.append(ch)
        raise self.error("expected a closing '\"' for the string started here", start)

    def regex(self) -> str:
        start = self.pos
        close = self.text.find("%", start + 1, self.end)
        if close < 0:
            raise self.error("expected a closing '%' for the regular expression started here", start)
        body = self.text[start + 1 : close]
        bad = REGEX_CHARS.fullmatch(body)
        if not body:
            raise self.error("expected a regular expression between '%' and '%'", start)
        if bad is None:
            offender = next(i for i, ch in enumerate(body) if not REGEX_CHARS.fullmatch(ch))
            raise self.error(
                f"a regular expression may not hold {body[offender]!r} "
                "(CloudWatch allows letters, digits, _#=@/;,:- and ^$?[]{}|\\*+.; no parentheses)",
                start + 1 + offender,
            )
        import regex as regex_module  # only for a pattern with a %regex% (alertd run: after ready)

        try:
            regex_module.compile(body)
        except regex_module.error as exc:
            raise self.error(f"expected a regular expression; {exc}", start + 1) from None
        self.pos = close + 1
        return body

    def literal(self) -> Literal:
        """The value after an operator."""
        self.skip_ws()
        if self.pos >= self.end:
            raise self.error("expected a value (a string, a number or %regex%); found the end of the pattern")
        ch = self.text[self.pos]
        if ch == '"':
            return Literal("string", self.quoted())
        if ch == "%":
            return Literal("regex", self.regex())
        match = BARE_CHARS.match(self.text, self.pos, self.end)
        if match is None:
            raise self.error(
                f"expected a value; found {self.found()} (quote strings holding characters other than "
                "letters, digits and _.*:/+-)"
            )
        self.pos = match.end()
        word = match.group()
        if NUMBER_RE.fullmatch(word):
            return Literal("number", word, float(word))
        return Literal("string", word)
