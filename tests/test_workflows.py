"""Workflows (issue 11): triggers on alert events and on time (stored timers fired by the escalation
loop), conditions in the rules' language plus time windows, actions that change the alert or reach
people and webhooks through the outbox; exactly once per (workflow, trigger), never re-triggering
itself, capped per alert; check-config names every mistake by key path. In-process with the fake
clock (tests/inprocess.py) and a real local HTTP server for webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from alertd.config import ConfigError, build_config, load_config
from alertd.workflows import in_window
from channel_fixtures import HttpPeer, Reply
from helpers import ROOT
from inbound_fixtures import TOKEN, Db, sns_config
from inbound_fixtures import alarm_notification as alarm
from inprocess import InProcess, in_process
from sns_signing import headers_for

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

SECRET = "workflow-signing-secret-0123456789abcdef"

PEOPLE = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[channels.recorder]
path = "{{sent}}"

[users.alice]
contact = {{ email = "alice@example.com" }}
[users.lead]
contact = {{ email = "lead@example.com", sms = "+15555550199" }}
notify = [{{ method = "email" }}]

[escalation_policies.one]
[[escalation_policies.one.levels]]
users = ["alice"]
delay_minutes = 60
"""


def make_config(tmp_path: Path, workflows: str, server: str = "", people: str = PEOPLE) -> tuple[Path, Path]:
    sent = tmp_path / "sent.jsonl"
    config = sns_config(tmp_path, "", server=server, alarms='escalation_policy = "one"')
    config.write_text(people.replace("{sent}", str(sent)) + config.read_text() + workflows)
    return config, sent


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def deliver(app: InProcess, envelope: dict[str, Any]) -> dict[str, Any]:
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    return Db(app.runtime.config.db_path).inbound()[-1]


def workflow_events(db: Db, alert_id: int | None = None) -> list[dict[str, Any]]:
    rows = db.rows("SELECT alert_id, kind, actor, detail FROM alert_events WHERE kind = 'workflow_action' ORDER BY id")
    return [{**r, "detail": json.loads(r["detail"])} for r in rows if alert_id is None or r["alert_id"] == alert_id]


UNACKED = """
[workflows.page-lead]
trigger = "not_acknowledged"
after_minutes = 5
when = { field = "integration", equals = "alarms" }
[[workflows.page-lead.actions]]
action = "notify"
users = ["lead"]
message = "Not acknowledged in 5 minutes: #{{ alert.id }} {{ alert.title }}"
"""


async def test_not_acknowledged_in_n_minutes_fires_exactly_once_and_not_for_an_acknowledged_alert(
    tmp_path: Path,
) -> None:
    config, sent = make_config(tmp_path, UNACKED)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        first = (await deliver(app, alarm("disk")))["alert_id"]
        second = (await deliver(app, alarm("cpu")))["alert_id"]
        await app.wait_until(lambda: len(db.rows("SELECT * FROM alert_timers")) == 2, what="timers armed")
        # The second is acknowledged before its timer falls due: it must not fire.
        from alertd.commands import run_alert_command

        await run_alert_command(app.runtime, "ack", second, actor="alice", via="api")
        await app.advance(4 * 60)
        assert not [s for s in sends(sent) if s["user"] == "lead"]
        await app.advance(2 * 60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["user"] == "lead"], what="the lead told")
        await app.wait_until(
            lambda: {r["state"] for r in db.rows("SELECT state FROM alert_timers")} == {"fired", "skipped"}
        )
        # The peer has the notice before the daemon has recorded its answer: wait for every answer.
        # A row still 'sending' when the clock jumps an hour looks lost (3 send timeouts) and is
        # sent again, in doubt, as designed: a second notice that this test would count.
        unsettled = "SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"
        await app.wait_until(lambda: not db.rows(unsettled), what="every send recorded")
        await app.advance(3600)  # later passes of the loops: never again
        await app.wait_until(lambda: not db.rows(unsettled), what="every send recorded after the hour")
        lead = [s for s in sends(sent) if s["user"] == "lead"]
        assert len(lead) == 1
        assert lead[0]["alert_id"] == first and lead[0]["purpose"] == "workflow"
        assert lead[0]["subject"].startswith(f"Not acknowledged in 5 minutes: #{first} disk")
        [event] = workflow_events(db)
        assert (event["alert_id"], event["actor"]) == (first, "workflow:page-lead")
        assert event["detail"]["outcome"] == "queued 1 notice(s)"
        assert db.rows("SELECT COUNT(*) AS n FROM workflow_runs")[0]["n"] == 1


REPEATS = """
[workflows.repeats-raise-severity]
trigger = "appended"
when = { field = "append_count", gt = 3 }
[[workflows.repeats-raise-severity.actions]]
action = "set_severity"
severity = "critical"
[[workflows.repeats-raise-severity.actions]]
action = "add_tags"
tags = ["noisy"]
[[workflows.repeats-raise-severity.actions]]
action = "note"
message = "repeated {{ alert.append_count }} times"

[workflows.ack-on-append]
trigger = "appended"
when = { all = [{ field = "source^Message^AlarmName", regex = "^cpu" }, { field = "status", equals = "open" }] }
during = { days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start = "00:00", end = "00:00" }
[[workflows.ack-on-append.actions]]
action = "ack"
[[workflows.ack-on-append.actions]]
action = "ack"
"""


async def test_event_workflows_with_conditions_change_the_alert(tmp_path: Path) -> None:
    config, _sent = make_config(tmp_path, REPEATS)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        disk = (await deliver(app, alarm("disk")))["alert_id"]
        for _ in range(3):
            await deliver(app, alarm("disk"))
        await app.wait_until(lambda: db.rows("SELECT COUNT(*) AS n FROM workflow_runs")[0]["n"] >= 3)
        await app.advance(1)
        assert json.loads(db.alerts()[0]["tags"]) == ["aws", "cloudwatch", "CloudTrailMetrics"]
        db.rows("UPDATE alerts SET severity = 'warning' WHERE id = 1")  # read-only helper: no effect
        await deliver(app, alarm("disk"))  # the 4th repeat
        await app.wait_until(lambda: "noisy" in db.alerts()[0]["tags"], what="tags added")
        alert = db.alerts()[0]
        assert alert["severity"] == "critical"
        outcomes = [e["detail"]["outcome"] for e in workflow_events(db, disk)]
        assert outcomes[1:] == ["tags noisy added", "note added"]
        notes = db.rows("SELECT actor, detail FROM alert_events WHERE kind = 'note_added'")
        assert [{**n, "detail": json.loads(n["detail"])} for n in notes] == [
            {"actor": "workflow:repeats-raise-severity", "detail": {"text": "repeated 4 times"}}
        ]
        # A condition on the source message (SNS Message parsed on the way down) and a no-op second ack.
        cpu = (await deliver(app, alarm("cpu")))["alert_id"]
        await deliver(app, alarm("cpu"))
        await app.wait_until(lambda: db.alerts()[1]["status"] == "acknowledged", what="acknowledged by workflow")
        assert db.alerts()[1]["acknowledged_by"] == "workflow:ack-on-append"
        assert [e["detail"]["outcome"] for e in workflow_events(db, cpu)] == ["acknowledged", "acknowledged"]
        # Only the cpu alert's repeat matched the regex: one run matched of the ack workflow.
        runs = db.rows("SELECT workflow, matched FROM workflow_runs WHERE workflow = 'ack-on-append'")
        assert sorted(r["matched"] for r in runs) == [0, 0, 0, 0, 1]


SELF = """
[workflow_limits]
max_actions_per_alert = 3

[workflows.loop]
trigger = "note_added"
[[workflows.loop.actions]]
action = "note"
message = "again"

[workflows.echo]
trigger = "note_added"
[[workflows.echo.actions]]
action = "note"
message = "echo"
"""


async def test_a_workflow_does_not_trigger_itself_and_the_per_alert_cap_stops_ping_pong(tmp_path: Path) -> None:
    config, _sent = make_config(tmp_path, SELF)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        alert_id = (await deliver(app, alarm("disk")))["alert_id"]
        from alertd.commands import run_alert_action

        await run_alert_action(app.runtime, "note", alert_id, actor="alice", via="api", text="hi")
        # loop and echo trigger each other (not themselves) until the cap of 3 actions.
        await app.wait_until(
            lambda: any("not run" in e["detail"]["outcome"] for e in workflow_events(db)), what="the cap"
        )
        await app.advance(5)
        notes = db.rows("SELECT actor FROM alert_events WHERE kind = 'note_added' ORDER BY id")
        assert len(notes) == 1 + 3
        # No run was triggered by an event of the workflow's own making.
        runs = db.rows(
            "SELECT r.workflow, e.actor FROM workflow_runs r JOIN alert_events e ON r.trigger_key = 'event:' || e.id"
        )
        assert len(runs) >= 4 and all(r["actor"] != f"workflow:{r['workflow']}" for r in runs)
        capped = [e for e in workflow_events(db) if "not run" in e["detail"]["outcome"]]
        assert "workflow_limits.max_actions_per_alert (3)" in capped[0]["detail"]["outcome"]


async def test_a_workflow_webhook_reaches_a_local_server_signed_and_is_retried(tmp_path: Path) -> None:
    attempts: list[int] = []

    def responder(_request: Any) -> Reply:
        attempts.append(1)
        return Reply(503 if len(attempts) == 1 else 200)

    with HttpPeer(responder=responder) as peer:
        workflows = f"""
[outbox]
backoff_base_seconds = 1
backoff_max_seconds = 1

[workflows.chat]
trigger = "opened"
[[workflows.chat.actions]]
action = "webhook"
url = "{peer.url}/hooks/chat"
secret = "{SECRET}"
body = '{{"text": "{{{{ alert.title }}}}", "id": {{{{ alert.id }}}}, "tags": {{{{ alert.tags }}}}}}'
"""
        config, _sent = make_config(tmp_path, workflows)
        async with in_process(config) as app:
            alert_id = (await deliver(app, alarm('disk "quoted"\n')))["alert_id"]
            await app.wait_until(lambda: len(peer.requests) >= 1, what="first POST")
            await app.advance(2)
            await app.wait_until(lambda: len(peer.requests) >= 2, what="the retry")
            # The peer has the request before the daemon has its answer: wait for the row to say so
            # (a stop before that leaves the send in doubt, 'sending', as designed).
            outbox = Db(tmp_path / "alertd.db")
            await app.wait_until(
                lambda: outbox.rows("SELECT status FROM outbox WHERE kind = 'webhook'")[0]["status"] != "sending",
                what="the retry's answer recorded",
            )
        request = peer.requests[-1]
        assert request.path == "/hooks/chat"
        timestamp = request.headers["x-alertd-timestamp"]
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        )
        assert hmac.compare_digest(request.headers["x-alertd-signature"], expected)
        body = request.json()
        assert body["id"] == alert_id and body["text"].startswith('disk "quoted"')
        assert body["tags"] == ["aws", "cloudwatch", "CloudTrailMetrics"]
        assert peer.requests[0].headers["idempotency-key"] == request.headers["idempotency-key"]
        db = Db(tmp_path / "alertd.db")
        [row] = db.rows("SELECT status, attempts, purpose FROM outbox WHERE kind = 'webhook'")
        assert row == {"status": "sent", "attempts": 2, "purpose": "workflow_webhook"}


def test_time_windows() -> None:
    from alertd.config.workflow_models import TimeWindow

    business = TimeWindow(
        days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00", timezone="America/New_York"
    )
    # 2026-11-25 is a Wednesday; 14:00 UTC is 09:00 in New York.
    wed = 1795615200.0  # 2026-11-25T14:00:00Z
    assert in_window(business, wed)
    assert not in_window(business, wed - 60)
    assert not in_window(business, wed + 8 * 3600)
    assert not in_window(business, wed + 3 * 86400)  # Saturday
    night = TimeWindow(days=["fri"], start="22:00", end="06:00", timezone="UTC")
    assert in_window(night, wed + 2 * 86400 + 9 * 3600)  # Friday 23:00 UTC
    assert in_window(night, wed + 2 * 86400 + 15 * 3600)  # Saturday 05:00 UTC
    assert not in_window(night, wed + 3 * 86400 + 3600 * 7)  # Saturday 21:00


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('trigger = "sometimes"\nactions = [{ action = "ack" }]', "workflows.w.trigger", "'opened'"),
        ('trigger = "not_acknowledged"\nactions = [{ action = "ack" }]', "workflows.w", "after_minutes with trigger"),
        ('trigger = "opened"\nafter_minutes = 5\nactions = [{ action = "ack" }]', "workflows.w", "time triggers"),
        (
            'trigger = "opened"\nactions = [{ action = "notify", users = ["nobody"] }]',
            "workflows.w.actions[0].users[0]",
            "'nobody'",
        ),
        ('trigger = "opened"\nactions = [{ action = "notify" }]', "workflows.w.actions[0]", "at least one of users"),
        (
            'trigger = "opened"\nactions = [{ action = "reassign", policy = "nope" }]',
            "workflows.w.actions[0].policy",
            "'nope'",
        ),
        (
            'trigger = "opened"\nwhen = { field = "title", regex = "(" }\nactions = [{ action = "ack" }]',
            "workflows.w.when.regex",
            "regular expression",
        ),
        (
            'trigger = "opened"\nactions = [{ action = "ack", url = "http://x" }]',
            "workflows.w.actions[0]",
            "url belong to other actions",
        ),
        (
            'trigger = "opened"\nactions = [{ action = "snooze", minutes = 100000 }]',
            "workflows.w.actions[0].minutes",
            "10080",
        ),
        (
            'trigger = "opened"\nactions = [{ action = "webhook", url = "ftp://x" }]',
            "workflows.w.actions[0].url",
            "https?://",
        ),
        (
            'trigger = "opened"\nactions = [{ action = "note", message = "{{ x" }]',
            "workflows.w.actions[0].message",
            "template",
        ),
        ('trigger = "opened"\nactions = []', "workflows.w.actions", "at least 1"),
        (
            'trigger = "opened"\nduring = { timezone = "Mars/Base" }\nactions = [{ action = "ack" }]',
            "workflows.w.during.timezone",
            "IANA",
        ),
    ],
)
def test_check_config_names_each_workflow_mistake(tmp_path: Path, table: str, key: str, words: str) -> None:
    import tomllib

    data = tomllib.loads(f"[users.alice]\n[workflows.w]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        build_config(tmp_path / "a.toml", data, None)
    problems = [(p.key, p.message) for p in info.value.problems]
    assert any(k == key and words in m for k, m in problems), problems


def test_workflow_limits_are_bounded(tmp_path: Path) -> None:
    for bad in (0, 1001):
        with pytest.raises(ConfigError) as info:
            build_config(tmp_path / "a.toml", {"workflow_limits": {"max_actions_per_alert": bad}}, None)
        assert info.value.problems[0].key == "workflow_limits.max_actions_per_alert"


def test_the_example_config_has_valid_workflows() -> None:
    config = load_config(ROOT / "alertd.toml")
    assert {"page-security-lead", "cloudtrail-to-chat", "repeats-raise-severity"} <= set(config.raw.workflows)


# --- the process: SIGKILL and restart, and the CLI ---------------------------------------------

KILL_WORKFLOW = """
[workflows.page-lead]
trigger = "not_acknowledged"
after_minutes = 0.05
[[workflows.page-lead.actions]]
action = "notify"
users = ["lead"]
message = "not acknowledged: #{{ alert.id }}"
"""


def test_not_acknowledged_fires_exactly_once_across_sigkill_and_restart(tmp_path: Path) -> None:
    import time

    from helpers import DaemonProcess, wait_until
    from inbound_fixtures import post_envelope

    config, sent = make_config(tmp_path, KILL_WORKFLOW)
    db = Db(tmp_path / "alertd.db")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        assert post_envelope(daemon, alarm("disk")).status_code == 200
        [timer] = wait_until(lambda: db.rows("SELECT * FROM alert_timers"), what="the timer armed")
        assert timer["state"] == "pending"
        daemon.kill()  # down while the timer falls due
        wait_until(lambda: time.time() > timer["due"] + 0.5, what="the due time passing")
        daemon.start()
        wait_until(lambda: db.rows("SELECT 1 FROM workflow_runs WHERE matched = 1"), what="the workflow ran")
        daemon.kill()  # right after: its events may be handed out again after the restart
        daemon.start()
        last = db.rows("SELECT MAX(id) AS n FROM alert_events")[0]["n"]
        wait_until(
            lambda: (
                [r["last_id"] for r in db.rows("SELECT last_id FROM event_cursors WHERE name = 'dispatch'")] >= [last]
            ),
            what="the dispatcher caught up",
        )
        wait_until(lambda: not db.rows("SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"))
        daemon.stop()
    finally:
        daemon.kill()
    assert len(db.rows("SELECT * FROM workflow_runs")) == 1
    assert len(db.rows("SELECT * FROM alert_events WHERE kind = 'workflow_action'")) == 1
    notices = db.rows("SELECT idempotency_key, status FROM outbox WHERE purpose = 'workflow'")
    assert [n["status"] for n in notices] == ["sent"]
    assert {s["key"] for s in sends(sent) if s["user"] == "lead"} == {notices[0]["idempotency_key"]}


def test_cli_workflows_lists_the_example_and_test_workflow_dry_runs(tmp_path: Path) -> None:
    from alertd import apply
    from alertd.mapping import Decision
    from alertd.store import write_transaction
    from alertd.store.schema import migrate
    from helpers import run_cli_in_process
    from postgres import connect

    text = (ROOT / "alertd.toml").read_text().replace('path = "var/alertd.db"', f'path = "{tmp_path / "a.db"}"')
    config = tmp_path / "alertd.toml"
    config.write_text(text)
    db = connect(tmp_path / "a.db")
    migrate(db)
    decision = Decision(
        "open", "Mapped Open", source_id="e1", title="ConsoleLogin by bob", fields={"eventName": "ConsoleLogin"}
    )
    with write_transaction(db):
        apply.open_alert(db, "cloudtrail-events", "security", decision, None, 1.0)
    out = run_cli_in_process("-c", str(config), "workflows")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["WORKFLOW", "TRIGGER", "ACTIONS"]
    assert any(line.startswith("page-security-lead") and "not_acknowledged 5m" in line for line in lines)
    assert any(line.startswith("cloudtrail-to-chat") and "never" in line for line in lines)
    assert any(line.startswith("handoff-notice") and "shift_start primary" in line for line in lines)
    listed = json.loads(run_cli_in_process("-c", str(config), "workflows", "--json").stdout)
    assert [w["name"] for w in listed] == [
        "page-security-lead",
        "cloudtrail-to-chat",
        "repeats-raise-severity",
        "handoff-notice",
    ]
    out = run_cli_in_process("-c", str(config), "test-workflow", "page-security-lead", "1")
    assert out.returncode == 0, out.stderr
    assert "holds: alert state for not_acknowledged" in out.stdout and "holds: when" in out.stdout
    assert "1. notify alice by sms, email -> alice" in out.stdout
    out = run_cli_in_process("-c", str(config), "test-workflow", "repeats-raise-severity", "1")
    assert "fails: when" in out.stdout and "would not run" in out.stdout
    out = run_cli_in_process("-c", str(config), "test-workflow", "handoff-notice", "1")
    assert out.returncode == 2 and "runs on handoffs of schedule 'primary'" in out.stderr
    out = run_cli_in_process("-c", str(config), "test-workflow", "nope", "1")
    assert out.returncode == 2 and "no workflow named 'nope'" in out.stderr
    out = run_cli_in_process("-c", str(config), "test-workflow", "page-security-lead", "99")
    assert out.returncode == 2 and "no alert #99" in out.stderr


def test_events_handed_out_again_run_a_workflow_once(tmp_path: Path) -> None:
    """The dispatcher is at least once (a crash before its cursor is saved replays a batch)."""
    from alertd import alerts, workflows
    from alertd.engine.events import events_after
    from alertd.mapping import Decision
    from alertd.store import write_transaction
    from alertd.store.schema import migrate
    from postgres import connect

    config_path, _sent = make_config(tmp_path, REPEATS)
    config = load_config(config_path)
    db = connect(tmp_path / "alertd.db")
    migrate(db)
    with write_transaction(db):
        alert_id, _ = alerts.open_alert(
            db, "alarms", None, Decision("open", "Mapped Open", source_id="s", title="t"), None, 1.0
        )
        for n in range(4):
            alerts.append(db, alert_id, "alarms", n, 2.0)
    batch = events_after(db, 0)
    for _ in range(2):
        with write_transaction(db):
            workflows.handle_events(db, config, batch, 3.0)
    assert db.execute("SELECT COUNT(*) FROM workflow_runs WHERE workflow = 'repeats-raise-severity'").fetchone()[0] == 4
    notes = db.execute("SELECT COUNT(*) FROM alert_events WHERE kind = 'note_added'").fetchone()[0]
    assert notes == 1  # only the 4th repeat matched, and only once


TIMED = """
[groups.oncall]
members = ["alice", "lead"]

[workflows.ack-stale]
trigger = "not_closed_after_ack"
after_minutes = 30
[[workflows.ack-stale.actions]]
action = "notify"
groups = ["oncall"]
emails = ["boss@example.com"]
message = "acknowledged 30 min ago and still not closed: #{{ alert.id }}"

[workflows.long-open]
trigger = "open_longer_than"
after_minutes = 120
[[workflows.long-open.actions]]
action = "webhook"
url = "http://127.0.0.1:9/unreachable"
[[workflows.long-open.actions]]
action = "add_tags"
tags = ["stale"]
[[workflows.long-open.actions]]
action = "set_field"
field = "note"
value = "open since {{ alert.created_at | int }}"
"""


async def test_time_triggers_after_acknowledgement_and_open_for_long(tmp_path: Path) -> None:
    config, sent = make_config(tmp_path, TIMED)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        alert_id = (await deliver(app, alarm("disk")))["alert_id"]
        from alertd.commands import run_alert_command

        await run_alert_command(app.runtime, "ack", alert_id, actor="alice", via="api")
        await app.wait_until(lambda: len(db.rows("SELECT * FROM alert_timers")) == 2, what="both timers armed")
        await app.advance(31 * 60)
        await app.wait_until(
            lambda: {s["user"] for s in sends(sent) if s["purpose"] == "workflow"} >= {"alice", "lead"}
        )
        # Every answer recorded before the clock jumps (a row still 'sending' would look lost).
        unsettled = "SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"
        await app.wait_until(lambda: not db.rows(unsettled), what="every send recorded")
        await app.advance(90 * 60)
        await app.wait_until(lambda: "stale" in db.alerts()[0]["tags"], what="open for 2 hours")
        # The unreachable webhook is queued and retried on its own; the next actions ran meanwhile.
        assert json.loads(db.alerts()[0]["fields"])["note"].startswith("open since 17")
        [hook] = db.rows("SELECT status, purpose FROM outbox WHERE kind = 'webhook'")
        assert hook["purpose"] == "workflow_webhook"
        boss = "SELECT kind, status FROM outbox WHERE user = 'boss@example.com'"
        await app.wait_until(lambda: db.rows(boss) == [{"kind": "email", "status": "sent"}], what="boss's notice")
        outcomes = [(e["detail"]["workflow"], e["detail"]["outcome"]) for e in workflow_events(db)]
        assert outcomes == [
            ("ack-stale", "queued 3 notice(s)"),
            ("long-open", "queued POST to 127.0.0.1:9"),
            ("long-open", "tags stale added"),
            ("long-open", "field note set"),
        ]


async def test_a_workflow_notice_about_an_alert_shows_its_message_by_email_and_push(tmp_path: Path) -> None:
    """The notice's text is the workflow's message (not the alert's facts, which a stakeholder's
    template chose from), with a link to the alert: through a real SMTP server and an ntfy server."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    from helpers import free_port

    mails: list[email.message.EmailMessage] = []

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mails.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
            return "250 OK"

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with HttpPeer() as ntfy:
            ntfy.reply = Reply(200, {"id": "n1", "event": "message"})
            people = """
[users.oncall]
contact = { email = "oncall@example.com" }
[escalation_policies.one]
[[escalation_policies.one.levels]]
users = ["oncall"]
"""
            workflows = f"""
[channels.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from_address = "alertd@example.com"

[channels.ntfy]
server = "{ntfy.url}"

[users.sec]
contact = {{ email = "sec@example.com", push = "sec-alerts" }}
notify = [{{ method = "email" }}, {{ method = "push" }}]

[workflows.tell-security]
trigger = "opened"
[[workflows.tell-security.actions]]
action = "notify"
users = ["sec"]
message = "Security: {{{{ alert.title }}}} opened\\nPlease check the CloudTrail console.\\nWorkflow line three."
"""
            server = 'public_url = "https://alertd.example.com"'
            config, _sent = make_config(tmp_path, workflows, server=server, people=people)
            async with in_process(config) as app:
                alert_id = (await deliver(app, alarm("root-login")))["alert_id"]
                await app.wait_until(lambda: len(mails) == 2 and ntfy.requests, what="the emails and the push")
        [mail] = [m for m in mails if m["To"] == "sec@example.com"]
        assert mail["X-Alertd-Purpose"] == "workflow"
        subject = mail["Subject"]
        assert subject.startswith("Security: root-login") and subject.endswith(" opened")
        text = mail.get_body(("plain",)).get_content()
        html_part = mail.get_body(("html",)).get_content()
        for body in (text, html_part):
            assert "Please check the CloudTrail console." in body and "Workflow line three." in body
            # Not the alert's facts: the workflow's message is the notice.
            assert "Severity" not in body and "Details" not in body and "AlarmName" not in body
            assert f"https://alertd.example.com/alerts/{alert_id}" in body
        push = ntfy.requests[0].json()
        assert push["title"] == subject
        assert push["message"] == (
            "Please check the CloudTrail console.\nWorkflow line three.\n"
            f"Alert #{alert_id}: https://alertd.example.com/alerts/{alert_id}"
        )
        assert push["click"] == f"https://alertd.example.com/alerts/{alert_id}"
        assert "actions" not in push  # told, not asked to acknowledge
    finally:
        smtp.stop()


async def test_a_retry_sooner_than_the_delivery_loops_nap_is_sent_on_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0.5 s backoff is kept: the delivery loop, asleep towards a due time read before the failed
    send, is woken to sleep until the retry (not MAX_IDLE_SECONDS: 2 s, here 30 s, so that a loaded
    CI machine's delays are not mistaken for the nap)."""
    from alertd import runtime

    monkeypatch.setattr(runtime, "MAX_IDLE_SECONDS", 30.0)
    seen: list[float] = []
    clock: list[Any] = []

    def responder(_request: Any) -> Reply:
        seen.append(clock[0].now())
        return Reply(503 if len(seen) == 1 else 200)

    with HttpPeer(responder=responder) as peer:
        workflows = f"""
[outbox]
backoff_base_seconds = 0.5
backoff_max_seconds = 0.5

[workflows.chat]
trigger = "opened"
[[workflows.chat.actions]]
action = "webhook"
url = "{peer.url}/hooks/chat"
secret = "{SECRET}"
"""
        config, _sent = make_config(tmp_path, workflows)
        async with in_process(config) as app:
            clock.append(app.clock)
            await deliver(app, alarm("disk"))
            await app.wait_until(lambda: len(seen) >= 2, what="the retry")
            # The peer has the request before the daemon has its answer: wait for the row to say so
            # (a stop before that leaves the send in doubt, 'sending', as designed).
            db = Db(tmp_path / "alertd.db")
            await app.wait_until(
                lambda: db.rows("SELECT status FROM outbox WHERE kind = 'webhook'")[0]["status"] != "sending",
                what="the retry's answer recorded",
            )
    [row] = db.rows("SELECT status, attempts FROM outbox WHERE kind = 'webhook'")
    assert row == {"status": "sent", "attempts": 2}
    # Backoff with jitter: 0.25-0.5 s; a loop left asleep would send it about 30 s after the first.
    assert 0.25 <= seen[1] - seen[0] < 10, seen


def test_every_built_in_channel_renders_a_workflow_notice_about_an_alert() -> None:
    """The workflow's message, the alert's link, none of the alert's facts, and no ack/close."""
    from xml.etree import ElementTree

    from twilio.twiml.voice_response import VoiceResponse

    from alertd_apprise.channel import body_for
    from alertd_ntfy import NtfySettings
    from alertd_ntfy.channel import publish_body
    from alertd_twilio.channels import sms_body
    from alertd_twilio.routes import call_menu
    from alertd_twilio.settings import TwilioSettings
    from alertd_webhook.channel import default_payload
    from channel_fixtures import PUBLIC, make_notification

    view = f"{PUBLIC}/alerts/42"
    text = "Tell security: root login failed\nCall <Bob> now"
    notice = make_notification("workflow", message=text, links={"view": view})
    assert notice.subject == "Tell security: root login failed"
    assert notice.detail_lines() == ["Call <Bob> now", f"Alert #42: {view}"]
    assert body_for(notice).splitlines() == [*text.splitlines(), f"Alert #42: {view}"]
    assert sms_body(notice) == f"{text}\nAlert #42: {view}"
    push = publish_body(notice, "sec", NtfySettings())
    assert push["message"] == f"Call <Bob> now\nAlert #42: {view}" and "actions" not in push
    payload = default_payload(notice)
    assert payload["message"] == text and payload["links"] == {"view": view} and payload["alert"]["id"] == 42
    # A call reads the message out and names the alert; no key menu (told, not paged).
    settings = TwilioSettings(account_sid="AC" + "0" * 32, auth_token="x" * 32, from_number="+15555550100")
    row = {"kind": "voice", "alert_id": 42, "purpose": "workflow", "payload": json.dumps({"message": "Root login."})}
    twiml = str(call_menu(settings, row, PUBLIC, 5, VoiceResponse()))
    said = " ".join(e.text or "" for e in ElementTree.fromstring(twiml).iter("Say"))
    assert "Root login. About alert 42." in said and "<Gather" not in twiml
