"""Durations written in config ("30s", "5m", "2h", "1d") -> seconds, and back to words ("5 min")."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, least: float, most: float) -> float:
    """Seconds; ValueError with what was expected (for a pydantic validator)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("expected a duration like '30s', '5m', '2h' or '1d'")
    seconds = float(int(match.group(1)) * _UNITS[match.group(2)])
    if not least <= seconds <= most:
        raise ValueError(f"expected a duration from {words(least)} to {words(most)}")
    return seconds


def words(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"
