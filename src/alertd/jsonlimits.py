"""Bounded JSON parsing for untrusted input.

``json.loads`` recurses once per nesting level, so a body of 100,000 ``[`` raises
RecursionError (and a few thousand levels cost real stack). The nesting depth is
measured first, without recursion, and anything deeper than ``MAX_JSON_DEPTH`` is
refused as bad input with a one-line reason.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

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


def check_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    if json_depth(text) > limit:
        raise JSONTooDeep(f"JSON nested deeper than {limit} levels")


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted text: ValueError (JSONTooDeep) beyond ``limit`` levels."""
    check_depth(text, limit)
    return json.loads(text)
