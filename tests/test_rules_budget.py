"""Rules run outside the writer, with budgets (issue 9 item 5).

A template or regex driven by message data may be slow or huge; it must cost only its own
message (the field is left empty with the reason), never the writer that every integration,
escalation and acknowledgement shares.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from alertd.mapping import OpenAlert, RulesetConfig, compile_ruleset, decide
from helpers import DaemonProcess, free_port
from inbound_fixtures import TOKEN, Db, post_envelope, sns_config
from sns_signing import notification


def rules(**spec: object) -> object:
    return compile_ruleset(
        RulesetConfig.model_validate({"source_id": "id", "open_when": {"field": "id", "exists": True}, **spec})
    )


# --- the sandbox: what amplifies a value is refused before it allocates ----------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ('{{ "x" * 5000000 }}', "* repetition would exceed"),
        ("{{ [1] * 5000000 }}", "* repetition would exceed"),
        ('{{ "%5000000d" % 1 }}', "% formatting would exceed"),
        ('{{ "%*d" % (5000000, 1) }}', "% formatting with a * width"),
        ('{{ "%s" | format(1) }}{{ "%5000000d" | format(1) }}', "% formatting would exceed"),
        ('{{ "{:>5000000}".format(1) }}', "str.format would exceed"),
        ('{{ "x" | center(5000000) }}', "filter center would exceed"),
        ('{{ "x".ljust(5000000) }}', "ljust would exceed"),
        ("{{ 10 ** 100000 }}", "** result too large"),
        ('{{ range(100000) | join("y" * 100) }}', "join would exceed"),
        (
            '{% set ns = namespace(s="x") %}{% for i in range(24) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
            "attribute s would exceed",
        ),
        ("{% for i in range(100000) %}{{ i }}{% endfor %}", "output longer than 65536 characters"),
        ("{% for i in range(100000) %}{% for j in range(300) %}{% endfor %}{% endfor %}", "took longer than 1 s"),
    ],
)
def test_amplifying_templates_are_cut_off_with_a_reason(template: str, reason: str) -> None:
    ruleset = rules(title="{{ id }}", description=template)
    started = time.monotonic()
    decision = decide({"id": "a"}, ruleset, lambda _s: None)
    assert time.monotonic() - started < 10
    assert decision.outcome == "Mapped Open"
    assert decision.title == "a" and decision.description == ""
    assert "description template failed: BudgetExceeded: " in decision.reason
    assert reason in decision.reason


def test_ordinary_operators_still_work() -> None:
    ruleset = rules(
        title='{{ "ab" * 2 }} {{ "%05d" % count }} {{ 2 ** 10 }} {{ [1, 2] + [3] }} {{ "x" | center(5) }}|',
        description='{{ "{:>4}".format(id) }} {{ range(3) | join(",") }} {{ range(3) | length }}',
    )
    decision = decide({"id": "a", "count": 7}, ruleset, lambda _s: None)
    assert decision.title == "abab 00007 1024 [1, 2, 3]   x  |"
    assert decision.description == "a 0,1,2 3"
    assert decision.reason == ""


def test_large_numbers_in_the_data_are_ordinary_values() -> None:
    # Epoch milliseconds, byte counts: only widths and counts are bounded, not the values shown.
    ruleset = rules(
        title='{{ ms | string }} {{ "{}".format(ms) }} {{ bytes | filesizeformat }}',
        description='{{ "%d" % ms }}',
    )
    decision = decide({"id": "a", "ms": 1767600000123, "bytes": 5_000_000_000}, ruleset, lambda _s: None)
    assert decision.title == "1767600000123 1767600000123 5.0 GB"
    assert decision.description == "1767600000123"
    assert decision.reason == ""


def test_a_backtracking_regex_gives_up_with_a_reason() -> None:
    ruleset = rules(filter={"field": "name", "regex": "^(a|aa)+$"})
    started = time.monotonic()
    decision = decide({"id": "1", "name": "a" * 36 + "!"}, ruleset, lambda _s: None)
    assert time.monotonic() - started < 5
    assert decision.outcome == "Filtered"
    assert "regex on name gave up after 0.25 s" in decision.reason


# --- optimistic evaluation, settled against the state in the write job ----------------------------


def test_settle_follows_the_state_at_write_time() -> None:
    from alertd.mapping import evaluate, settle

    ruleset = rules(title="{{ 'T ' ~ id }}")  # through Jinja: evaluate looks before rendering
    # Evaluated while an alert was open: an append, the title not rendered.
    seen_open = evaluate({"id": "s"}, ruleset, lambda _s: OpenAlert(3, "open"))
    assert seen_open.details is None
    assert settle(seen_open, OpenAlert(3, "open")).outcome == "Mapped Appended"  # type: ignore[union-attr]
    # ... the alert closed before the write: the message now opens one, which needs the title.
    assert settle(seen_open, None) is None
    again = evaluate({"id": "s"}, ruleset, None, "open_rule")
    opened = settle(again, None)
    assert opened is not None and (opened.outcome, opened.title) == ("Mapped Open", "T s")
    # Evaluated with nothing open, but another message opened it first: an append of that alert.
    seen_none = evaluate({"id": "s"}, ruleset, lambda _s: None)
    appended = settle(seen_none, OpenAlert(9, "acknowledged"))
    assert appended is not None and (appended.outcome, appended.alert_id) == ("Mapped Appended", 9)


# --- the daemon: a slow rule on one integration does not delay another's alarm ----------------------

SLOW_TOKEN = "slow-rules-test-token-0123456789abcdef"
SLOW = f"""
[integrations.slow]
type = "aws_sns"
token = "{SLOW_TOKEN}"
[integrations.slow.rules]
source_id = "Message^AlarmArn"
open_when = {{ field = "Message^NewStateValue", equals = "ALARM" }}
title = "{{{{ Message.AlarmName }}}}"
description = "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
[integrations.slow.rules.fields]
huge = "{{{{ Message.AlarmName * 5000000 }}}}"
slow1 = "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
slow2 = "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
slow3 = "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
"""


def alarm(name: str) -> dict:
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        "NewStateValue": "ALARM",
        "NewStateReason": "test",
    }


def test_a_slow_rule_does_not_delay_another_integrations_alarm(tmp_path: Path) -> None:
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": ""}
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(sns_config(tmp_path, SLOW), env=env) as daemon:
        # Warm: the first request of a fresh daemon pays its first-use imports (cryptography) while
        # the web stack is still being imported, which under load took 0.6-1.0 s with or without a
        # slow rule beside it. Measured here is the slow rule's effect, not a cold start.
        assert post_envelope(daemon, notification(alarm("Warm")), token=TOKEN).status_code == 200
        slow: dict[str, object] = {}

        def send_slow() -> None:
            started = time.monotonic()
            slow["response"] = post_envelope(daemon, notification(alarm("SlowOne")), token=SLOW_TOKEN)
            slow["seconds"] = time.monotonic() - started

        sender = threading.Thread(target=send_slow)
        sender.start()
        latencies: list[float] = []
        # Alarms on the other integration while the slow one renders (four templates, each cut off
        # after 1 s): each must be answered well before the renders end. (Rendered on the event
        # loop, one would wait about 4 s; a loaded CI machine was seen near 0.75 s with one.)
        while sender.is_alive() and len(latencies) < 500:
            started = time.monotonic()
            response = post_envelope(daemon, notification(alarm(f"Fast-{uuid.uuid4().hex[:8]}")), token=TOKEN)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            assert latencies[-1] < 2.5, f"an alarm on another integration waited {latencies[-1]:.2f} s"
        sender.join(timeout=60)

    assert slow["response"].status_code == 200  # type: ignore[attr-defined]
    assert slow["seconds"] >= 4.0  # it did run into its time budgets ...
    assert len(latencies) >= 3  # ... while the other integration was served
    row = db.rows("SELECT * FROM inbound_log WHERE integration = 'slow'")[0]
    assert row["outcome"] == "Mapped Open"
    assert "description template failed: BudgetExceeded: took longer than 1 s" in row["reason"]
    assert "fields.huge template failed: BudgetExceeded: * repetition would exceed" in row["reason"]
    assert "fields.slow3 template failed: BudgetExceeded: took longer than 1 s" in row["reason"]
    alert = db.rows("SELECT * FROM alerts WHERE id = ?", (row["alert_id"],))[0]
    assert (alert["title"], alert["description"], alert["fields"]) == ("SlowOne", "", "{}")


def test_the_same_source_twice_at_once_opens_one_alert(tmp_path: Path) -> None:
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": ""}
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(sns_config(tmp_path), env=env) as daemon:
        for round_ in range(5):
            name = f"Twice-{round_}"
            envelopes = [notification(alarm(name)) for _ in range(2)]
            barrier = threading.Barrier(2)
            codes: list[int] = []

            def send(envelope: dict, barrier: threading.Barrier, codes: list[int]) -> None:
                barrier.wait()
                codes.append(post_envelope(daemon, envelope).status_code)

            threads = [threading.Thread(target=send, args=(e, barrier, codes)) for e in envelopes]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert codes == [200, 200]
            arn = alarm(name)["AlarmArn"]
            assert len(db.rows("SELECT id FROM alerts WHERE source_id = ?", (arn,))) == 1
            outcomes = sorted(
                r["outcome"]
                for r in db.inbound()
                if r["message_type"] == "Notification" and arn in (r["decision"] or "")
            )
            assert outcomes == ["Mapped Appended", "Mapped Open"]


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_the_write_job_writes_nothing_when_the_state_needs_details_it_lacks(tmp_path: Path) -> None:
    """receive() then evaluates again with ``open_rule``: record_message must leave no trace."""
    from types import SimpleNamespace

    from alertd.inbound import InboundMessage, InboundRequest
    from alertd.mapping import evaluate
    from alertd.receive import record_message
    from alertd.store.schema import migrate
    from postgres import connect

    db = connect(tmp_path / "alertd.db")
    migrate(db)
    ruleset = rules(title="{{ 'T ' ~ id }}")  # through Jinja: evaluate looks before rendering
    integration = SimpleNamespace(name="x", ruleset=ruleset, inbound_type=None)
    request = InboundRequest("POST", "/in/t", {}, b"{}", "127.0.0.1", 0.0)
    message = InboundMessage("Notification", {"id": "s"}, source_message_id="m-1")
    # Evaluated while an alert for "s" was open (no title rendered); by the write it has closed.
    evaluation = evaluate({"id": "s"}, ruleset, lambda _s: OpenAlert(3, "open"))
    assert record_message(db, None, integration, request, message, 1.0, evaluation) is None  # type: ignore[arg-type]
    assert db.execute("SELECT count(*) FROM inbound_log").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
