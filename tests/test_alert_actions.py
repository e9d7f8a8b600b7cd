"""Alert actions beyond ack/close (issue 11): snooze, un-acknowledge, escalate now, reassign, note,
merge; through the API, the CLI and SMS replies, each recorded with the acting user. In-process
(tests/inprocess.py) with the fake clock: a 30-minute snooze ends without waiting for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alertd import apply, replies
from alertd.config import load_config
from alertd.store import write_transaction
from alertd.store.schema import migrate
from helpers import ROOT, run_cli_in_process
from inbound_fixtures import TOKEN, Db, sns_config
from inbound_fixtures import alarm_notification as alarm
from inprocess import InProcess, in_process
from postgres import config_on_backend, connect
from sns_signing import headers_for

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "actions-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

PEOPLE = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[channels.recorder]
path = "{{sent}}"

[users.alice]
contact = {{ email = "alice@example.com", sms = "+15555550101" }}
notify = [{{ method = "email" }}]
[users.bob]
contact = {{ email = "bob@example.com" }}
[users.carol]
contact = {{ email = "carol@example.com" }}

[escalation_policies.two]
[[escalation_policies.two.levels]]
users = ["alice"]
delay_minutes = 60
[[escalation_policies.two.levels]]
users = ["bob"]

[escalation_policies.other]
[[escalation_policies.other.levels]]
users = ["carol"]
"""


def make_config(tmp_path: Path) -> tuple[Path, Path]:
    sent = tmp_path / "sent.jsonl"
    config = sns_config(
        tmp_path,
        "",
        server=f'api_tokens = [{{ name = "ops", token = "{API_TOKEN}" }}]',
        alarms='escalation_policy = "two"',
    )
    config.write_text(PEOPLE.replace("{sent}", str(sent)) + config.read_text())
    return config, sent


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def deliver(app: InProcess, envelope: dict[str, Any]) -> dict[str, Any]:
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    return Db(app.runtime.config.db_path).inbound()[-1]


def kinds(db: Db, alert_id: int) -> list[tuple[str, str]]:
    return [
        (r["kind"], r["actor"]) for r in db.rows("SELECT kind, actor FROM alert_events WHERE alert_id = ?", (alert_id,))
    ]


async def test_snooze_acknowledges_until_its_end_then_the_alert_escalates_again(tmp_path: Path) -> None:
    config, sent = make_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        alert_id = (await deliver(app, alarm("disk")))["alert_id"]
        await app.wait_until(lambda: len(sends(sent)) == 1, what="alice paged")
        r = await app.post(f"/api/v1/alerts/{alert_id}/snooze", json={"user": "alice", "minutes": 30}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "acknowledged"
        await app.advance(29 * 60)
        await app.wait_until(lambda: db.alerts()[0]["snoozed_until"] is not None)
        assert db.alerts()[0]["status"] == "acknowledged"
        assert len(sends(sent)) == 1
        await app.advance(2 * 60)
        await app.wait_until(lambda: db.alerts()[0]["status"] == "open", what="snooze ended")
        await app.wait_until(lambda: len(sends(sent)) == 2, what="alice paged again from the first level")
        assert sends(sent)[1]["user"] == "alice"
        events = kinds(db, alert_id)
        assert ("snoozed", "alice") in events and ("unacknowledged", "snooze") in events
        [timer] = db.rows("SELECT * FROM alert_timers")
        assert timer["state"] == "fired"


async def test_a_snooze_whose_alert_closed_meanwhile_does_nothing(tmp_path: Path) -> None:
    config, _sent = make_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        alert_id = (await deliver(app, alarm("disk")))["alert_id"]
        r = await app.post(f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 10}, headers=AUTH)
        assert r.status_code == 200
        assert (await app.post(f"/api/v1/alerts/{alert_id}/close", headers=AUTH)).status_code == 200
        await app.advance(11 * 60)
        await app.wait_until(lambda: db.rows("SELECT state FROM alert_timers")[0]["state"] == "skipped")
        assert db.alerts()[0]["status"] == "closed"
        assert ("unacknowledged", "snooze") not in kinds(db, alert_id)


async def test_unack_escalate_reassign_note_and_merge_through_the_api(tmp_path: Path) -> None:
    config, sent = make_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        first = (await deliver(app, alarm("disk")))["alert_id"]
        dup = (await deliver(app, alarm("disk-again")))["alert_id"]
        await app.wait_until(lambda: len(sends(sent)) == 2, what="alice paged twice")

        async def act(alert_id: int, action: str, **body: Any) -> Any:
            return await app.post(f"/api/v1/alerts/{alert_id}/{action}", json=body, headers=AUTH)

        assert (await act(first, "ack", user="bob")).status_code == 200
        r = await act(first, "unack", user="bob")
        assert r.json()["status"] == "open"
        await app.wait_until(lambda: len(sends(sent)) == 3, what="level 1 again after unack")
        # Escalate now: bob (level 2) at once, not in an hour.
        assert (await act(first, "escalate", user="alice")).status_code == 200
        await app.wait_until(lambda: any(s["user"] == "bob" for s in sends(sent)), what="bob paged at once")
        r = await act(first, "escalate", level=5)
        assert (r.status_code, "levels 1 to 2" in r.json()["error"]) == (409, True)
        assert (await act(first, "reassign", user="alice", policy="other")).status_code == 200
        await app.wait_until(
            lambda: any(s["user"] == "carol" for s in sends(sent)), what="carol paged on the new policy"
        )
        r = await act(first, "reassign", policy="nope")
        assert r.status_code == 409 and "no escalation policy named 'nope'" in r.json()["error"]
        assert (await act(first, "note", user="carol", text="looking into it")).status_code == 200
        r = await act(dup, "merge", user="carol", into=first)
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert db.alerts()[1]["merged_into"] == first
        # A later message for the duplicate's source appends to the alert it was merged into.
        inbound = await deliver(app, alarm("disk-again"))
        assert (inbound["outcome"], inbound["alert_id"]) == ("Mapped Appended", first)
        # ... and its OK does not close that one.
        inbound = await deliver(app, alarm("disk-again", "OK"))
        assert (inbound["outcome"], inbound["alert_id"]) == ("Mapped Appended", first)
        assert db.alerts()[0]["status"] == "open"
        events = kinds(db, first)
        for expected in [
            ("unacknowledged", "bob"),
            ("escalation_requested", "alice"),
            ("reassigned", "alice"),
            ("note_added", "carol"),
            ("duplicate_merged", "carol"),
        ]:
            assert expected in events
        assert ("merged", "carol") in kinds(db, dup)


@pytest.mark.parametrize(
    ("action", "body", "status", "words"),
    [
        ("snooze", {}, 400, "needs 'minutes'"),
        ("snooze", {"minutes": "ten"}, 400, "minutes must be a number"),
        ("snooze", {"minutes": 0.5}, 409, "from 1 minute"),
        ("snooze", {"minutes": 10**9}, 409, "from 1 minute"),
        ("note", {"text": "x" * 3000}, 409, "at most 2000"),
        ("note", {"text": 5}, 400, "text must be a string"),
        ("merge", {"into": 1}, 409, "into itself"),
        ("merge", {"into": 2**70}, 400, "whole number"),
        ("escalate", {"level": True}, 400, "whole number"),
        ("unack", {"extra": 1}, 400, "unknown key 'extra'"),
        ("unack", {"user": "mallory"}, 403, "not configured"),
    ],
)
async def test_bad_action_bodies_get_a_clear_4xx(
    tmp_path: Path, action: str, body: Any, status: int, words: str
) -> None:
    config, _sent = make_config(tmp_path)
    async with in_process(config) as app:
        await deliver(app, alarm("disk"))
        r = await app.post(f"/api/v1/alerts/1/{action}", json=body, headers=AUTH)
        assert r.status_code == status, r.text
        assert words in r.json()["error"]
        r = await app.post(f"/api/v1/alerts/1/{action}", json=body)
        assert r.status_code == 401


def test_sms_snooze_reply(tmp_path: Path) -> None:
    config_path, _sent = make_config(tmp_path)
    raw = load_config(config_path).raw
    db = connect(tmp_path / "x.db")
    migrate(db)
    from alertd.mapping import Decision

    with write_transaction(db):
        alert_id = apply.open_alert(
            db, "alarms", "two", Decision("open", "Mapped Open", source_id="s", title="t"), None, 1.0
        )
        db.execute(
            "INSERT INTO outbox (alert_id, user, kind, address, purpose, step, idempotency_key, status, created_at, "
            "updated_at) VALUES (?, 'alice', 'sms', '+15555550101', 'alert', '0:0', 'k', 'sent', 1, 1)",
            [alert_id],
        )
    assert replies.parse_reply("SNOOZE 42 30") == replies.ReplyCommand("snooze", 42, 30)
    assert replies.parse_reply("snooze #42") == replies.ReplyCommand("snooze", 42, 30)
    assert replies.parse_reply("SNOOZE 42 30 40") is None
    with write_transaction(db):
        answer = replies.handle_reply(
            db, raw, "sms", "+1 555 555 0101", f"SNOOZE {alert_id} 3000", 2.0, normalize=replies.phone_number
        )
    assert "1 to 1440 minutes" in answer
    assert db.execute("SELECT COUNT(*) FROM alert_events WHERE kind = 'snoozed'").fetchone()[0] == 0
    with write_transaction(db):
        answer = replies.handle_reply(
            db, raw, "sms", "+15555550101", f"snooze {alert_id} 45", 2.0, normalize=replies.phone_number
        )
    assert answer.startswith(f"Snoozed for 45 min #{alert_id}")
    last = db.execute("SELECT kind, actor, via FROM alert_events ORDER BY id DESC LIMIT 1").fetchone()
    assert tuple(last) == ("snoozed", "alice", "sms")
    assert db.execute("SELECT due FROM alert_timers").fetchone()[0] == 2.0 + 45 * 60


def test_cli_snooze_note_and_merge(tmp_path: Path) -> None:
    config_path, _sent = make_config(tmp_path)
    config_on_backend(config_path)  # the CLI on the database written here
    db = connect(tmp_path / "alertd.db")
    migrate(db)
    from alertd.mapping import Decision

    with write_transaction(db):
        for sid in ("a", "b"):
            apply.open_alert(db, "alarms", "two", Decision("open", "Mapped Open", source_id=sid, title=sid), None, 1.0)
    c = ["-c", str(config_path)]
    out = run_cli_in_process(*c, "snooze", "1", "30m", "--user", "alice")
    assert out.returncode == 0, out.stderr
    assert "#1 acknowledged (snooze by alice)" in out.stdout
    out = run_cli_in_process(*c, "snooze", "1", "soon")
    assert out.returncode == 2 and "expected a duration like 30m" in out.stderr
    assert run_cli_in_process(*c, "note", "1", "checked", "the", "disk", "--user", "bob").returncode == 0
    out = run_cli_in_process(*c, "merge", "2", "into", "1")
    assert out.returncode == 0 and "#2 closed (merge by cli:" in out.stdout, out.stderr
    out = run_cli_in_process(*c, "merge", "1", "into", "2")
    assert out.returncode == 2 and "is closed" in out.stderr
    out = run_cli_in_process(*c, "unack", "1", "--user", "mallory")
    assert out.returncode == 2 and "not configured" in out.stderr
    text = run_cli_in_process(*c, "alerts", "show", "1").stdout
    assert "note by bob on the command line: checked the disk" in text
    assert "snoozed for 30 minutes by alice" in text
