"""Replay after a rule fix (issue 13 item 5): the API and the CLI, dry run and --apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from helpers import run_cli_in_process, write_config
from inbound_fixtures import Db
from inprocess import in_process
from sns_signing import headers_for, notification, sample_envelope, seed_cert_cache

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

TOKEN = "replay-test-token-0123456789abcdef"
API_TOKEN = "replay-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def config(tmp_path: Path, open_state: str) -> Path:
    seed_cert_cache(tmp_path / "certs")
    return write_config(
        tmp_path,
        f"""
[inbound.aws_sns]
cert_cache_dir = "certs"
[integrations.alarms]
type = "aws_sns"
token = "{TOKEN}"
escalation_policy = "sec"
ruleset = "cloudwatch_alarm"
[integrations.alarms.rules]
open_when = {{ field = "Message^NewStateValue", equals = "{open_state}" }}
[integrations.alarms.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"]
[users.alice]
contact = {{ email = "alice@example.com" }}
[escalation_policies.sec]
levels = [{{ users = ["alice"], delay_minutes = 0 }}]
""",
        server=f'api_tokens = ["{API_TOKEN}"]',
    )


def alarm(name: str, state: str) -> dict:
    message = json.loads(sample_envelope("sns-cloudwatch-alarm-ALARM.json")[1]["Message"])
    message["AlarmName"] = name
    message["AlarmArn"] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    message["NewStateValue"] = state
    return message


async def post(app, message: dict, envelope: dict | None = None) -> str:
    envelope = envelope or notification(message)
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    return Db(app.config.parent / "alertd.db").inbound()[-1]["outcome"]


async def test_replay_through_the_api(tmp_path: Path) -> None:
    db = Db(tmp_path / "alertd.db")
    # A typo in the open rule: every alarm is Unmapped (the OK is too: no alert open to close).
    async with in_process(config(tmp_path, "ALRAM")) as app:
        first_a = notification(alarm("a", "ALARM"))
        assert await post(app, {}, first_a) == "Unmapped"
        assert await post(app, {}, first_a) == "Duplicate Delivery"  # a redelivery: not replayed
        assert await post(app, alarm("a", "OK")) == "Unmapped"
        assert await post(app, alarm("b", "ALARM")) == "Unmapped"
    assert db.alerts() == []
    rows_before = len(db.inbound())

    async with in_process(config(tmp_path, "ALARM")) as app:  # the rule fixed
        url = "/api/v1/integrations/alarms/replay"
        assert (await app.post(url, params={"since": "2h"})).status_code == 401
        for params, reason in [
            ({"since": "32d"}, "since: expected a duration from 1 s to 31 d"),
            ({"since": "soon"}, "since: expected a duration like"),
            ({"since": "2h", "limit": "2"}, "more than 2 messages match"),
            ({"since": "2h", "apply": "yes"}, "apply must be true or false"),
        ]:
            response = await app.post(url, params=params, headers=AUTH)
            assert response.status_code == 400 and reason in response.json()["error"], response.text

        dry = await app.post(url, params={"since": "2h"}, headers=AUTH)
        assert dry.status_code == 200, dry.text
        expected = [("Unmapped", "Mapped Open"), ("Unmapped", "Mapped Closed"), ("Unmapped", "Mapped Open")]
        assert [(c["old_outcome"], c["new_outcome"]) for c in dry.json()["changes"]] == expected
        assert dry.json()["applied"] is False
        assert (len(db.inbound()), db.alerts()) == (rows_before, [])  # nothing written

        applied = await app.post(url, params={"since": "2h", "apply": "true"}, headers=AUTH)
        changes = applied.json()["changes"]
        assert [(c["old_outcome"], c["new_outcome"]) for c in changes] == expected
        alert_a, alert_b = db.alerts()
        # a opened and closed again within the replay: recorded, never paged; b is open and pages.
        assert (alert_a["status"], alert_b["status"]) == ("closed", "open")
        await app.wait_until(
            lambda: db.rows("SELECT 1 FROM alert_events WHERE alert_id = ? AND kind = 'escalated'", (alert_b["id"],)),
            what="b escalated",
        )
        assert db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_a["id"],)) == [
            {"kind": "opened"},
            {"kind": "closed"},
        ]
        replays = db.rows(
            "SELECT id, replay_of, outcome, reason, accepted FROM inbound_log WHERE replay_of IS NOT NULL"
        )
        assert [(r["replay_of"], r["outcome"], r["accepted"]) for r in replays] == [
            (c["inbound_id"], c["new_outcome"], 0) for c in changes
        ]
        assert replays[0]["reason"].startswith(f"replay of inbound #{changes[0]['inbound_id']}")
        assert alert_a["created_at"] == db.inbound()[0]["received_at"]  # at the original time

        # Applied twice: nothing happens again.
        again = await app.post(url, params={"since": "2h", "apply": "true"}, headers=AUTH)
        assert {c["new_outcome"] for c in again.json()["changes"]} == {"skipped"}
        assert all("already mapped" in c["reason"] for c in again.json()["changes"])
        assert len(db.alerts()) == 2

        # --outcome: only the messages that had it.
        some = await app.post(url, params={"since": "2h", "outcome": "unmapped"}, headers=AUTH)
        assert len(some.json()["changes"]) == 3
        none = await app.post(url, params={"since": "2h", "outcome": "Filtered"}, headers=AUTH)
        assert none.json()["changes"] == []


def test_replay_command(tmp_path: Path) -> None:
    # A sync test: the CLI runs trio itself (through cli.main, in this process).
    db = Db(tmp_path / "alertd.db")

    async def receive_with_the_misspelt_rule() -> None:
        async with in_process(config(tmp_path, "ALRAM")) as app:
            assert await post(app, alarm("a", "ALARM")) == "Unmapped"
            assert await post(app, alarm("a", "OK")) == "Unmapped"

    trio.run(receive_with_the_misspelt_rule)
    path = config(tmp_path, "ALARM")
    dry = run_cli_in_process("replay", "-c", str(path), "--integration", "alarms", "--since", "2h")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["INBOUND", "RECEIVED", "OLD", "OUTCOME", "NEW", "OUTCOME", "ALERT", "NOTE"]
    assert "Unmapped" in lines[1] and "->  Mapped Open" in lines[1]
    assert "Unmapped" in lines[2] and "->  Mapped Closed" in lines[2]
    assert lines[-1] == "2 of 2 messages would change; nothing was written (run again with --apply)"
    assert db.alerts() == []
    applied = run_cli_in_process(
        "replay", "-c", str(path), "--integration", "alarms", "--since", "2h", "--apply", "--json"
    )
    assert applied.returncode == 0, applied.stderr
    assert [c["new_outcome"] for c in json.loads(applied.stdout)["changes"]] == ["Mapped Open", "Mapped Closed"]
    assert [a["status"] for a in db.alerts()] == ["closed"]
    bad = run_cli_in_process("replay", "-c", str(path), "--integration", "alarms", "--since", "40d")
    assert (bad.returncode, bad.stderr) == (2, "Error: --since: expected a duration from 1 s to 31 d\n")
    unknown = run_cli_in_process("replay", "-c", str(path), "--integration", "nope", "--since", "2h")
    assert unknown.returncode == 2 and "no integration named 'nope' (alarms)" in unknown.stderr


async def test_an_alert_whose_quiet_time_passed_is_recorded_not_paged(tmp_path: Path) -> None:
    from test_thresholds import TOKEN as SIGNIN_TOKEN
    from test_thresholds import config as signin_config
    from test_thresholds import signin_event

    db = Db(tmp_path / "alertd.db")

    def write(count: int) -> Path:
        return signin_config(
            tmp_path,
            f"""escalation_policy = "sec"
[integrations.signins.rules]
threshold = {{ count = {count}, within = "5m" }}
[users.alice]
contact = {{ email = "alice@example.com" }}
[escalation_policies.sec]
levels = [{{ users = ["alice"], delay_minutes = 0 }}]
""",
        )

    async with in_process(write(30)) as app:  # a threshold set far too high
        for _ in range(3):
            envelope = notification(signin_event())
            response = await app.post(
                f"/in/{SIGNIN_TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope)
            )
            assert response.status_code == 200
    assert [r["outcome"] for r in db.inbound()] == ["Counted (1 of 30)", "Counted (2 of 30)", "Counted (3 of 30)"]

    path = write(3)
    async with in_process(path) as app:
        await app.advance(3600)  # an hour later: the 15 quiet minutes after the third failure are long past
        from alertd.http.replay_api import replay_request

        status, data = await replay_request(app.runtime, "signins", {"since": "2h", "apply": "true"})
        assert status == 200
        assert [c["new_outcome"] for c in data["changes"]] == ["Counted (1 of 3)", "Counted (2 of 3)", "Mapped Open"]
        [alert] = db.alerts()
        assert alert["status"] == "closed"
        await app.advance(60)
        kinds = [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ?", (alert["id"],))]
        assert kinds == ["opened", "closed"]  # never escalated: nobody paged for an alert already over
        assert db.rows("SELECT * FROM quiet_timers") == []
