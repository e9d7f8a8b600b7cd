"""Bounded JSON parsing for untrusted input.

``json.loads`` recurses once per nesting level, so a body of 100,000 ``[`` raises
RecursionError. ``loads`` turns that into bad input with a one-line reason, and measures
what did parse without recursion: anything deeper than ``MAX_JSON_DEPTH`` is refused the
same way. ``check_depth`` measures text without parsing it.

Once ``jsontext.load()`` has run (the daemon and ingest workers), parsing goes through orjson
(several times faster than ``json``: an SNS envelope and its message are parsed for every
inbound message) whenever its answer is ``json``'s; any text it refuses goes to ``json``, whose
answer and errors stay the reference (NaN, a BOM, a lone surrogate, JSON nested deeper than
orjson's own limit).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from alertd import jsontext

# Real payloads (SNS envelopes, CloudWatch alarms, EventBridge events) nest < 10 levels.
MAX_JSON_DEPTH = 64

# A JSON string literal (brackets inside strings do not nest); an unterminated one runs to the end.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONTooDeep(ValueError):
    """The text nests deeper than allowed (a ValueError, like any other bad JSON)."""


def json_depth(text: str | bytes) -> int:
    """The deepest bracket nesting of ``text``, ignoring brackets inside strings."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _few_brackets(text: str | bytes, limit: int) -> bool:
    """True when ``text`` has at most ``limit`` opening brackets, so it cannot nest deeper: two
    C-speed counts instead of a scan (real payloads have a few dozen brackets at most)."""
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[") <= limit
    return text.count("{") + text.count("[") <= limit


def check_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    if _few_brackets(text, limit):
        return
    if json_depth(text) > limit:
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels")


def value_depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON value, counted without recursion; stops past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# orjson reads an integer beyond 64 bits as a float, json as the exact int: text with 20 digits in a
# row, or a minus and 19 (below -2**63), in a string or not, is left to json. Found by C passes (a
# regex took ten times longer).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else i if i == 0x2D else 0x20 for i in range(256))
_LONG_NUMBER = b"0" * 20
_LONG_NEGATIVE = b"-" + b"0" * 19
_NOT_FAST: Any = object()


def _fast_loads(text: str | bytes) -> Any:
    """orjson's value of ``text`` where it is the same as ``json.loads``'s, else ``_NOT_FAST``."""
    orjson = jsontext.orjson
    if orjson is None:
        return _NOT_FAST
    try:
        data = text.encode() if isinstance(text, str) else text
        if type(data) is not bytes:
            return _NOT_FAST
        digits = data.translate(_DIGITS_ONLY)
        if _LONG_NUMBER in digits or _LONG_NEGATIVE in digits:
            return _NOT_FAST
        return orjson.loads(data)
    except (ValueError, UnicodeError):  # (orjson.JSONDecodeError is a ValueError)
        return _NOT_FAST


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted text: ValueError (JSONTooDeep) beyond ``limit`` levels.

    Parsed first and measured after: the C parser is several times faster than measuring the
    text (``json_depth``), the parsed tree has few containers to walk, and nesting deep enough
    to reach the recursion limit stops the parser with RecursionError, at no risk to the stack.
    """
    value = _fast_loads(text)
    if value is _NOT_FAST:
        try:
            value = json.loads(text)
        except RecursionError:
            raise JSONTooDeep(f"JSON nested deeper than {limit} levels") from None
        except ValueError:
            check_depth(text, limit)  # bad JSON that is also too deep: say so, as before
            raise
    if isinstance(text, bytes | str) and _few_brackets(text, limit):
        return value  # (in UTF-16 or -32 too: each bracket still holds its ASCII byte)
    if value_depth(value, limit) > limit:
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels")
    return value
