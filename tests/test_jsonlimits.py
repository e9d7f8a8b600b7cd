"""jsonlimits.loads parses first and measures the parsed value (faster than measuring text):
the bound holds the same for every shape, and for nesting deep enough to stop the parser."""

from __future__ import annotations

import json

import pytest

from alertd import jsonlimits


def nested(depth: int) -> str:
    """Lists and objects alternating, ``depth`` levels, with brackets inside strings beside them."""
    opening = ['{"k": ' if level % 2 else '[0, "]]", ' for level in range(depth)]
    closing = [', "s": "[[{"}' if level % 2 else "]" for level in reversed(range(depth))]
    return "".join(opening) + "1" + "".join(closing)


@pytest.mark.parametrize("depth", [1, 2, 63, 64])
def test_nesting_up_to_the_limit_parses(depth: int) -> None:
    text = nested(depth)
    assert jsonlimits.loads(text) == json.loads(text)
    assert jsonlimits.value_depth(json.loads(text), 1000) == depth == jsonlimits.json_depth(text)


@pytest.mark.parametrize("depth", [65, 500, 5000, 200_000])
def test_nesting_past_the_limit_is_refused_as_bad_input(depth: int) -> None:
    with pytest.raises(jsonlimits.JSONTooDeep, match="nested deeper than 64 levels"):
        jsonlimits.loads(nested(depth))
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        jsonlimits.loads("[" * depth)  # unterminated as well


def test_a_wide_value_is_measured_by_its_deepest_branch() -> None:
    wide = {"a": [[1]] * 10_000, "b": {"c": {"d": [{"e": []}]}}}
    assert jsonlimits.value_depth(wide, 64) == 6
    assert jsonlimits.loads(json.dumps(wide), limit=6) == wide
    with pytest.raises(jsonlimits.JSONTooDeep):
        jsonlimits.loads(json.dumps(wide), limit=5)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
@pytest.mark.parametrize(("depth", "deep"), [(4, False), (5, True)])
def test_few_brackets_skip_the_measure_but_not_the_limit(encoding: str, depth: int, deep: bool) -> None:
    # At most ``limit`` opening brackets cannot nest deeper than ``limit``: the only case not measured.
    text = "[" * depth + "]" * depth
    for value in (text, text.encode(encoding) if encoding != "utf-8" else text.encode()):
        if deep:
            with pytest.raises(jsonlimits.JSONTooDeep):
                jsonlimits.loads(value, limit=4)
            with pytest.raises(jsonlimits.JSONTooDeep):
                jsonlimits.check_depth(text, limit=4)
        else:
            assert jsonlimits.loads(value, limit=4) == json.loads(text)
            jsonlimits.check_depth(text, limit=4)
