"""Text for people: control characters made visible, aligned tables, times in a zone.

Anything that came from outside (message bodies, titles, header values, rule output)
may carry terminal escape sequences, carriage returns or line separators; printed raw
they can clear the screen or forge a line. ``visible`` shows them as escapes instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Cc: C0/C1 controls and DEL; Cf: bidi overrides, zero-width characters; Zl/Zp: U+2028/U+2029.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_unsafe(ch: str) -> bool:
    """True for a character that changes what a terminal or log viewer shows around it."""
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: object, *, keep: str = "") -> str:
    """``text`` with every control or format character written as an escape (``\\x1b``,
    ``\\r``, ``\\u2028``); characters in ``keep`` (e.g. newline and tab in a body) stay."""
    text = str(text)
    if text.isprintable():  # no Cc, Cf, Zl or Zp (nor other separators): decided in C, the common case
        return text
    if not any(is_unsafe(ch) for ch in text):
        return text
    return "".join(escape_char(ch) if is_unsafe(ch) and ch not in keep else ch for ch in text)


def visible_block(text: str) -> str:
    """A multi-line text (a message body) kept as lines, with everything else escaped."""
    return visible(text, keep="\n\t")


def json_visible(dumped: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with every control or format
    character written as a ``\\uXXXX`` escape: still the same JSON, but inert on a terminal."""
    # json.dumps already escapes C0 controls inside strings; a raw newline or tab is layout.
    if dumped.isascii() and "\x7f" not in dumped:
        return dumped  # the common case, decided in C
    if not any(ord(ch) >= 0x7F and is_unsafe(ch) for ch in dumped):
        return dumped
    out = []
    for ch in dumped:
        if ord(ch) < 0x7F or not is_unsafe(ch):
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
            code = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, width: int = 100, flexible: int = -1) -> list[str]:
    """Left-aligned columns separated by two spaces, fitting ``width`` characters: the
    ``flexible`` column (default: the last) takes what is left and is shortened."""
    cells = [[visible(c) for c in row] for row in rows]
    columns = len(header)
    flexible %= columns
    widths = [max([len(header[i])] + [len(r[i]) for r in cells]) for i in range(columns)]
    fixed = sum(w for i, w in enumerate(widths) if i != flexible) + 2 * (columns - 1)
    widths[flexible] = max(len(header[flexible]), min(widths[flexible], width - fixed))

    def line(values: Sequence[str]) -> str:
        parts = [shorten(v, widths[i]).ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return [line(header)] + [line(r) for r in cells]


def zone_named(name: str | None) -> tzinfo:
    """The zone called ``name`` (an IANA name such as Europe/Berlin), or this machine's local
    zone when None. ValueError with a one-line reason for an unknown name."""
    if name is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin or UTC)") from None


def local_time(ts: float | None, zone: tzinfo, *, seconds: bool = True, with_zone: bool = True) -> str:
    """``2026-11-25 13:05:07 EST`` in ``zone`` ('-' for no time)."""
    if ts is None:
        return "-"
    when = datetime.fromtimestamp(ts, zone)
    text = when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {zone_abbreviation(zone, ts)}" if with_zone else text


def zone_abbreviation(zone: tzinfo, ts: float) -> str:
    """The zone's short name at ``ts`` (EST, CET, UTC), or its UTC offset when it has none (+0530)."""
    when = datetime.fromtimestamp(ts, zone)
    name = when.tzname() or ""
    return name if name[:1].isalpha() else when.strftime("%z")


def age(seconds: float) -> str:
    """A short age: 45s, 12m, 3h, 5d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
