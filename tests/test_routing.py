"""Routing and assignment: a route sends a matching message to its policy, the integration's own
settings are the default, owners (recipients) are stored, paged when no policy pages anyone and
told on close. In-process with the recorder channel; test-integration as a subprocess."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from alertd import apply, escalation, outbox
from alertd.config import ConfigError, build_config
from alertd.mapping import Decision
from alertd.store.schema import migrate
from helpers import ROOT, SAMPLES, run_cli_in_process
from inbound_fixtures import EVENTS_TOKEN, TOKEN, Db, sample_message, sns_config
from inprocess import InProcess, in_process
from postgres import connect
from sns_signing import headers_for, notification

PEOPLE = """
[channels.recorder]
path = "{sent}"

[users.alice]
contact = {{ email = "alice@example.com" }}
[users.bob]
contact = {{ email = "bob@example.com" }}
[users.carol]
contact = {{ email = "carol@example.com" }}
[users.dave]
contact = {{ email = "dave@example.com" }}

[groups.dbas]
members = ["carol", "dave"]

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]

[escalation_policies.dba]
[[escalation_policies.dba.levels]]
users = ["carol"]
"""

ROUTES = """
recipients = ["bob"]
notify_on_close = true
[[integrations.alarms.routes]]
name = "prod-db"
when = { field = "Message^AlarmName", regex = "^prod-db-" }
escalation_policy = "dba"
recipients = ["group:dbas"]
[[integrations.alarms.routes]]
when = { field = "Message^AlarmName", contains = "staging" }
recipients = ["dave"]
"""


def make_config(tmp_path: Path) -> tuple[Path, Path, Db]:
    sent = tmp_path / "sent.jsonl"
    # The events integration has no policy: its owners are paged.
    config = sns_config(
        tmp_path, PEOPLE.format(sent=sent), alarms='escalation_policy = "ops"', events='recipients = ["group:dbas"]'
    )
    text = config.read_text()
    text = text.replace('ruleset = "eventbridge_cloudtrail"\n', 'ruleset = "eventbridge_cloudtrail"\n', 1)
    text = text.replace("[integrations.alarms.options]", ROUTES.strip() + "\n[integrations.alarms.options]")
    config.write_text(f'plugins_dir = "{ROOT / "tests" / "plugins_dir"}"\n' + text)
    return config, sent, Db(tmp_path / "alertd.db")


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def alarm(app: InProcess, name: str, state: str = "ALARM") -> dict:
    message, _, _ = sample_message(f"sns-cloudwatch-alarm-{state}.json")
    envelope = notification(message.replace("ConsoleSignInFailures", name))
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    return Db(app.config.parent / "alertd.db").rows("SELECT * FROM inbound_log ORDER BY id DESC LIMIT 1")[0]


def paged(sent: Path, alert_id: int) -> list[tuple[str, str]]:
    return [(s["user"], s["purpose"]) for s in sends(sent) if s["alert_id"] == alert_id]


async def test_a_route_sends_a_matching_message_to_its_policy(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        routed = await alarm(app, "prod-db-cpu")
        default = await alarm(app, "web-5xx")
        unnamed = await alarm(app, "staging-queue-depth")
        rows = {r["id"]: r for r in db.rows("SELECT * FROM alerts")}
        first, second, third = (rows[x["alert_id"]] for x in (routed, default, unnamed))
        assert (first["route"], first["escalation_policy"], json.loads(first["recipients"])) == (
            "prod-db",
            "dba",
            ["group:dbas"],
        )
        assert (second["route"], second["escalation_policy"], json.loads(second["recipients"])) == (
            "default",
            "ops",
            ["bob"],
        )
        # A route without its own policy keeps the integration's.
        assert (third["route"], third["escalation_policy"], json.loads(third["recipients"])) == (
            "routes[1]",
            "ops",
            ["dave"],
        )
        assert json.loads(routed["decision"])["route"] == "prod-db"
        await app.wait_until(lambda: paged(sent, first["id"]) == [("carol", "alert")], what="the dba policy's page")
        await app.wait_until(lambda: paged(sent, second["id"]) == [("alice", "alert")], what="the default policy")

        # Closed by the source with notify_on_close: those paged and the owners hear it, once each.
        await alarm(app, "prod-db-cpu", "OK")
        await app.wait_until(
            lambda: sorted(paged(sent, first["id"])) == [("carol", "alert"), ("carol", "closed"), ("dave", "closed")],
            what="closure notices to the paged and the owners",
        )
        shown = await app.off_loop(run_cli_in_process, "alerts", "show", str(first["id"]), "-c", str(config))
        assert "owners:" in shown.stdout and "group:dbas" in shown.stdout and "route:" in shown.stdout, shown.stdout


async def test_owners_are_paged_when_there_is_no_policy(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        message, _, _ = sample_message("sns-eventbridge-cloudtrail-consolelogin-failure.json")
        envelope = notification(message.replace("3a5b7c9d-0e1f-4a2b-8c3d-5e6f7a8b9c0d", str(uuid.uuid4())))
        response = await app.post(
            f"/in/{EVENTS_TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
        )
        assert response.status_code == 200
        alert_id = db.rows("SELECT alert_id FROM inbound_log ORDER BY id DESC LIMIT 1")[0]["alert_id"]
        await app.wait_until(
            lambda: sorted(paged(sent, alert_id)) == [("carol", "alert"), ("dave", "alert")], what="the owners' pages"
        )
        kinds = [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ?", (alert_id,))]
        assert kinds[:2] == ["opened", "owners_paged"]
        shown = await app.off_loop(run_cli_in_process, "alerts", "show", str(alert_id), "-c", str(config))
        assert "paged its owners carol (owner of the alert, member of dbas)" in shown.stdout, shown.stdout


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_a_level_that_reaches_nobody_pages_the_owners(tmp_path: Path) -> None:
    config = build_config(
        tmp_path / "a.toml",
        {
            "users": {"a": {"contact": {"email": "a@x"}}, "o": {"contact": {"email": "o@x"}}},
            "schedules": {
                # On call only on Mondays 00:00-00:01: nobody at the time below (a Tuesday).
                "s": {
                    "layers": [{"users": ["a"], "restrictions": [{"days": ["mon"], "start": "00:00", "end": "00:01"}]}]
                }
            },
            "escalation_policies": {"p": {"levels": [{"schedules": ["s"]}]}},
        },
        None,
    )
    db = connect(tmp_path / "r.db")
    migrate(db)
    now = 1_800_000_000.0  # 2027-01-15, a Friday
    with db.atomic():
        alert_id = apply.open_alert(db, "i", "p", Decision("open", "Mapped Open", source_id="x", title="t"), None, now)
        db.execute("UPDATE alerts SET recipients = '[\"o\"]' WHERE id = ?", [alert_id])
        events, queued = escalation.fire_due(db, config, now)
    assert queued == 1 and [r["user"] for r in outbox.for_alert(db, alert_id)] == ["o"]
    assert events[0].kind == "escalated" and events[0].detail["via"] == {"o": "owner"}


def test_test_integration_shows_the_route(tmp_path: Path) -> None:
    config, _sent, _db = make_config(tmp_path)
    sample = tmp_path / "alarm.json"
    sample.write_text(
        (SAMPLES / "sns-cloudwatch-alarm-ALARM.json").read_text().replace("ConsoleSignInFailures", "prod-db-disk")
    )
    result = run_cli_in_process("test-integration", "alarms", str(sample), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "route:       prod-db (escalation dba; owners group:dbas)" in result.stdout, result.stdout
    plain = run_cli_in_process(
        "test-integration", "alarms", str(SAMPLES / "sns-cloudwatch-alarm-ALARM.json"), "--json", "-c", str(config)
    )
    assert json.loads(plain.stdout)["route"] == "default"


@pytest.mark.parametrize(
    ("integration", "expected"),
    [
        ({"recipients": ["nobody"]}, "integrations.i.recipients[0]: expected the name of one of [users]"),
        ({"recipients": ["group:nope"]}, "integrations.i.recipients[0]: expected the name of one of [groups]"),
        ({"recipients": ["team:x"]}, "integrations.i.recipients[0]"),
        (
            {"routes": [{"when": {"field": "a", "equals": 1}, "escalation_policy": "nope"}]},
            "integrations.i.routes[0].escalation_policy: expected the name of one of [escalation_policies]",
        ),
        (
            {"routes": [{"when": {"field": "a", "equals": 1}, "recipients": ["ghost"]}]},
            "integrations.i.routes[0].recipients[0]: expected the name of one of [users]",
        ),
        (
            {"routes": [{"when": {"field": "a", "regex": "("}}]},
            "integrations.i.routes[0].when.regex: expected a regular expression",
        ),
        ({"routes": [{"when": {"field": "a"}}]}, "integrations.i.routes[0].when: expected exactly one operator"),
        ({"routes": [{"escalation_policy": "p"}]}, "integrations.i.routes[0]: expected a when condition, during"),
        ({"routes": [{"during": {"timezone": "Nope/Nope"}}]}, "integrations.i.routes[0].during.timezone"),
    ],
)
def test_bad_routes_and_recipients_name_their_key(integration: dict, expected: str) -> None:
    data = {"integrations": {"i": {"type": "aws_sns", **integration}}, "users": {"u": {}}}
    with pytest.raises(ConfigError) as info:
        build_config(Path("a.toml"), data, None)
    assert expected in str(info.value)


def test_routes_during_business_hours() -> None:
    from datetime import UTC, datetime

    from alertd.config.models import IntegrationConfig
    from alertd.routing import choose

    cfg = IntegrationConfig.model_validate(
        {
            "type": "aws_sns",
            "escalation_policy": "night",
            "routes": [
                {
                    "name": "office",
                    "during": {
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "start": "09:00",
                        "end": "17:00",
                        "timezone": "Europe/Berlin",
                    },
                    "when": {"field": "severity", "equals": "critical"},
                    "escalation_policy": "day",
                },
                {"name": "late", "during": {"days": ["fri"], "start": "22:00", "end": "02:00"}},
            ],
        }
    )
    critical = {"severity": "critical"}
    # 2026-11-27 is a Friday: 09:30 in Berlin is 08:30 UTC.
    assert choose(cfg, critical, datetime(2026, 11, 27, 8, 30, tzinfo=UTC)).name == "office"
    assert choose(cfg, {"severity": "low"}, datetime(2026, 11, 27, 8, 30, tzinfo=UTC)).name == "default"
    assert choose(cfg, critical, datetime(2026, 11, 27, 16, 30, tzinfo=UTC)).name == "default"  # 17:30 Berlin
    assert choose(cfg, critical, datetime(2026, 11, 28, 8, 30, tzinfo=UTC)).name == "default"  # Saturday
    # Hours across midnight belong to the day they start on: Friday 22:00 to Saturday 02:00 (UTC).
    assert choose(cfg, {}, datetime(2026, 11, 28, 1, 0, tzinfo=UTC)).name == "late"
    assert choose(cfg, {}, datetime(2026, 11, 29, 1, 0, tzinfo=UTC)).name == "default"
    route = choose(cfg, {}, datetime(2026, 11, 27, 23, 0, tzinfo=UTC))
    assert (route.name, route.policy) == ("late", "night")
