"""Item 12: control characters in log fields are escaped, so a field never breaks or forges a line."""

from __future__ import annotations

import json
import logging

import pytest

from alertd.log import LogfmtFormatter
from alertd.textout import visible, visible_block

HOSTILE = "a\rlevel=error event=forged\x1b[2J\x00tail\u2028next\u202eevil"


def _format(event: str, **fields: object) -> str:
    record = logging.LogRecord("alertd.test", logging.INFO, __file__, 1, event, None, None)
    record.fields = fields  # type: ignore[attr-defined]
    return LogfmtFormatter(with_time=False).format(record)


def _raw_controls(line: str) -> list[str]:
    return [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029\u202e"]


@pytest.mark.parametrize("char", ["\r", "\x1b", "\x00", "\u2028", "\x85", "\u202e", "\x7f"])
def test_each_control_character_is_quoted_and_escaped(char: str) -> None:
    line = _format("inbound.rejected", reason=f"x{char}y")
    assert _raw_controls(line) == []
    value = line.split("reason=", 1)[1]
    assert value.startswith('"') and json.loads(value) == f"x{char}y"


def test_a_hostile_field_and_event_stay_on_one_visible_line() -> None:
    line = _format(f"event{HOSTILE}", remote=HOSTILE, n=3)
    assert _raw_controls(line) == []
    assert "\\r" in line and "\\u001b[2J" in line and "\\u0000" in line and "\\u2028" in line
    assert line.startswith("level=info logger=alertd.test event=")
    assert " n=3" in line
    # Plain values stay bare; non-ASCII letters stay readable.
    assert _format("x", user="Müller") == "level=info logger=alertd.test event=x user=Müller"


def test_visible_escapes_for_people() -> None:
    assert visible("title\x1b[31m red\r\n") == "title\\x1b[31m red\\r\\n"
    assert visible("fine ümlaut") == "fine ümlaut"
    assert visible("\u2028\u202e") == "\\u2028\\u202e"
    assert visible_block("line 1\n\tline 2\x1b[2J\r") == "line 1\n\tline 2\\x1b[2J\\r"


def test_bare_or_quoted_follows_the_per_character_rule_for_every_character() -> None:
    # The formatter decides bare-vs-quoted with regexes (a line per inbound request is a hot
    # path); the rule stays per character: bare unless a separator or a control/format character.
    import unicodedata

    for code in [*range(0x300), 0x85, 0xA0, 0xAD, 0x200B, 0x200E, 0x2028, 0x2029, 0x202E, 0xFEFF, 0x1F600, 0xE0001]:
        char = chr(code)
        value = f"a{char}b"
        quoted = char in ' ="\\' or unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
        shown = _format("e", v=value).split(" v=", 1)[1]
        if quoted:
            assert shown.startswith('"') and json.loads(shown) == value and _raw_controls(shown) == [], hex(code)
        else:
            assert shown == value, hex(code)
    assert _format("e", n=12, b=True, none=None).endswith("n=12 b=true none=null")


def test_visible_s_printable_shortcut_never_skips_an_unsafe_character() -> None:
    # visible() returns a printable text as it is (decided in C: the CLI's listings call it per
    # cell); every character unsafe by the per-character rule must therefore be non-printable.
    from alertd.textout import is_unsafe

    assert [hex(c) for c in range(0x110000) if chr(c).isprintable() and is_unsafe(chr(c))] == []
