"""Fuzzing the inbound route of a real daemon: whatever arrives, never a 500, never a crash,
always an inbound-log row with an outcome (and a reason for every refusal)."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertd.mapping import OUTCOMES
from alertd_aws_sns.inbound_type import REQUIRED
from helpers import DaemonProcess, free_port
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from sns_signing import headers_for, notification, subscription_confirmation

# Every key SNS signs or requires, plus the optional ones.
SNS_KEYS = sorted({key for fields in REQUIRED.values() for key in fields} | {"Subject", "UnsubscribeURL"})
TYPES = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation", "", "notification", "X"]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("fuzz")
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": ""}
    config = sns_config(tmp)
    config.write_text(config.read_text().replace("[server]\n", "[server]\nmax_body_bytes = 65536\n"))
    daemon = DaemonProcess(config, env=env)
    with daemon:
        client = httpx.Client(base_url=daemon.url, timeout=30)
        yield daemon, client, Db(tmp / "alertd.db")
        client.close()
        assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon died"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def valid_envelope() -> dict:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    return notification(message)


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> dict:
    envelope = valid_envelope() if draw(st.booleans()) else subscription_confirmation()
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(SNS_KEYS))
        action = draw(st.sampled_from(["delete", "replace", "type"]))
        if action == "delete":
            envelope.pop(key, None)
        elif action == "replace":
            envelope[key] = draw(st.text(max_size=200) | st.sampled_from(TYPES))
        else:
            envelope[key] = draw(json_values)
    return envelope


bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_envelopes().map(lambda e: json.dumps(e).encode()),
    mutated_envelopes().map(lambda e: json.dumps(e).encode()[: random.Random(len(e)).randint(0, 300)]),
    st.builds(lambda n: json.dumps({**valid_envelope(), "Message": "é" * n}).encode(), st.integers(0, 40000)),
)

# Printable ASCII without surrounding blanks: what HTTP/1.1 allows a header value to be.
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)

headers = st.fixed_dictionaries(
    {},
    optional={
        "x-amz-sns-message-type": st.sampled_from(TYPES) | header_text,
        "x-amz-sns-rawdelivery": st.sampled_from(["true", "false", "TRUE", ""]),
        "x-amz-sns-message-id": header_text,
        "content-type": st.sampled_from(["text/plain; charset=UTF-8", "application/json", "x/y"]),
    },
)


@given(body=bodies, extra_headers=headers)
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_inbound_never_fails(target, body: bytes, extra_headers: dict) -> None:
    _daemon, client, db = target
    before = db.rows("SELECT COALESCE(MAX(id), 0) AS n FROM inbound_log")[0]["n"]
    response = client.post(f"/in/{TOKEN}", content=body, headers=extra_headers)
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text)
    rows = db.rows("SELECT * FROM inbound_log WHERE id > ?", (before,))
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == response.status_code and row["outcome"] in OUTCOMES
    if response.status_code >= 400:
        assert row["outcome"] == "Rejected" and row["reason"]


def test_signed_but_odd_messages(target) -> None:
    """Validly signed envelopes with hostile content are decided, not crashed on."""
    _daemon, client, db = target
    odd = [
        "null",
        "[]",
        "{}",
        '{"NewStateValue": 1}',
        '{"NewStateValue": "ALARM"}',
        '{"NewStateValue": "ALARM", "AlarmArn": ["x"]}',
        '{"NewStateValue": "ALARM", "AlarmArn": "' + "a" * 5000 + '"}',
        '{"NewStateValue": "ALARM", "AlarmArn": "x", "AlarmName": "{{ 7*7 }}{% for x in range(10**9) %}"}',
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
    for message in odd:
        envelope = notification(message)
        response = client.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
        assert response.status_code == 200, (message, response.text)
        row = db.inbound()[-1]
        assert row["outcome"] in ("Unmapped", "Mapped Open", "Mapped Appended"), row
    # Template syntax in the data is data: rendered literally, never executed.
    titles = [a["title"] for a in db.alerts()]
    assert any("{{ 7*7 }}" in t for t in titles)
