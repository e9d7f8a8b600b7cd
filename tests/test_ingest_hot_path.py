"""The inbound hot path's JSON (orjson where it answers as json does) and an ingest worker's
warm-up before its hello (what the first messages would otherwise do on first use)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

from alertd import jsonlimits, jsontext
from inbound_fixtures import shipped_rules_config


@pytest.fixture(autouse=True, scope="module")
def _orjson() -> None:
    jsontext.load()  # (as the daemon does just after ready)


# Text json reads differently from orjson, or that only json accepts: each keeps json's answer.
EDGE_TEXTS = [
    b"123456789012345678901234567890",  # beyond 64 bits: an exact int (orjson: a float)
    b'{"n": -98765432109876543210}',
    b'{"n": -9223372036854775809}',  # 19 digits, below -2**63 (orjson: a float)
    b"[-9999999999999999999]",
    b'{"id": "12345678901234567890123"}',  # (20 digits in a string: json's road too, same value)
    b"1e400",
    b'{"a": NaN, "b": -Infinity}',
    b'"\\ud800"',
    b'\xef\xbb\xbf{"bom": 1}',
    '{"s": "\ud800"}',
    '{"a": 1, "a": 2}',
    b'{"x": "\xc3\xa9", "y": [1.5, -0, true, null]}',
    bytearray(b'{"b": 1}'),
]


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_loads_answers_as_json_does(text: str | bytes) -> None:
    got, want = jsonlimits.loads(text), json.loads(text)
    assert json.dumps(got) == json.dumps(want)  # (NaN != NaN: compared as text)
    assert [type(v) for v in _leaves(got)] == [type(v) for v in _leaves(want)]


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize("text", [b"{bad", b"", b"[1,]", b'{"a": 1} x', "\x00"])
def test_bad_json_raises_json_s_error(text: str | bytes) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        jsonlimits.loads(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    assert str(raised.value) == str(expected.value)  # the reason in a 400 stays json's


VALUES = [
    {"content-type": "text/plain", "x-amz-sns-message-id": "abc", "cookie": "<not stored>"},
    {"action": "open", "title": "CPU é ☃", "fields": {"a": "1"}, "route": None, "count": 3, "ratio": 0.5},
    ["aws", "cloudwatch"],
    {"inbound_id": 7, "nested": {"list": [1, [2, {"x": True}]]}},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_dumps_writes_the_same_value(value: object) -> None:
    text = jsontext.dumps(value)
    assert json.loads(text) == value
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Tagged(str):
    pass


class Opaque:
    def __str__(self) -> str:
        return "opaque"


@pytest.mark.parametrize(
    "value",
    [
        {"at": datetime.datetime(2026, 11, 26, 13, 0, tzinfo=datetime.UTC)},  # str(), not ISO's "T"
        {1: "int key"},
        {"n": 2**70},
        {"s": "\ud800"},
        {"t": Tagged("x")},
        {"o": Opaque()},
    ],
    ids=["datetime", "int-key", "big-int", "surrogate", "str-subclass", "other"],
)
def test_dumps_leaves_what_orjson_writes_otherwise_to_json(value: object) -> None:
    assert jsontext.dumps(value) == json.JSONEncoder(default=str).encode(value)


WARM_UP = """
import json, sys
assert "orjson" not in sys.modules
from pathlib import Path
from types import SimpleNamespace

from alertd.config import load_config
from alertd.ingest_worker import warm_up
from alertd.plugins import make_manager

config = load_config(Path(sys.argv[1]), make_manager())
modules = ("cryptography.x509", "jinja2.filters", "prometheus_client", "orjson")
before = [m in sys.modules for m in modules]
warm_up(SimpleNamespace(config=config))
after = [m in sys.modules for m in modules]
print(json.dumps([before, after]))
"""


def test_a_worker_warms_up_what_the_first_messages_would_load(tmp_path: Path) -> None:
    """The shipped rules only: loading imports neither Jinja nor the certificate parser."""
    config = shipped_rules_config(tmp_path)
    result = subprocess.run([sys.executable, "-c", WARM_UP, str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout)
    # The SNS plugin's certificate parser, the filters of rules rendered without Jinja, the metrics, orjson.
    assert before == [False, False, False, False]  # (else this test proves nothing)
    assert after == [True, True, True, True]


NOT_AT_IMPORT = """
import sys
import alertd.cli, alertd.receive, alertd.daemon, alertd.ingest_worker
from alertd import jsonlimits, jsontext
assert jsonlimits.loads(b'{"a": 1}') == {"a": 1} and jsontext.dumps({"a": 1}) == '{"a": 1}'
print("orjson" in sys.modules)
"""


def test_orjson_is_not_imported_at_import() -> None:
    """Its import costs some 30 ms of CPU: not for a CLI command, nor before the daemon is ready."""
    result = subprocess.run([sys.executable, "-c", NOT_AT_IMPORT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
