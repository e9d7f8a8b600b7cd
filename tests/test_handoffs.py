"""Schedule-event workflows (issue 11): ``trigger = "shift_start" | "shift_end"`` with ``schedule``
notify the incoming/outgoing person at each handoff, through outbox rows without an alert. The next
handoff is a ``schedule_timers`` row: fired once (the latest missed one after a pause), never lost
nor doubled across kill -9. Real SMTP server (aiosmtpd), fake clock in-process."""

from __future__ import annotations

import email
import email.policy
import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from alertd import handoffs
from alertd.config import ConfigError, ScheduleConfig, build_config
from helpers import free_port, write_config
from inbound_fixtures import Db
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[dict[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = message.get_body(("plain",))
        self.mails.append(
            {"to": str(message["To"]), "subject": str(message["Subject"]), "body": body.get_content() if body else ""}
        )
        return "250 OK"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_text(smtp_port: int, t0: float, extra: str = "") -> str:
    """alice on call [t0+600, t0+4200), carol [t0+4200, t0+7800), nobody before or after (the
    layer starts in 2099): handoffs at t0+600 (-> alice), t0+4200 (alice -> carol), t0+7800."""
    return f"""
[outbox]
backoff_base_seconds = 0.2
backoff_max_seconds = 0.5
max_attempts = 50

[channels.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "alertd@example.com"

[users.alice]
full_name = "Alice A"
timezone = "America/New_York"
contact = {{ email = "alice@example.com" }}
[users.carol]
full_name = "Carol C"
timezone = "Asia/Tokyo"
contact = {{ email = "carol@example.com" }}
[users.bob]
contact = {{ email = "bob@example.com" }}

[schedules.primary]
[[schedules.primary.layers]]
users = ["bob"]
start = 2099-01-05
[[schedules.primary.overrides]]
user = "alice"
start = {iso(t0 + 600)}
end = {iso(t0 + 4200)}
[[schedules.primary.overrides]]
user = "carol"
start = {iso(t0 + 4200)}
end = {iso(t0 + 7800)}

[workflows.handoff-start]
trigger = "shift_start"
schedule = "primary"
[[workflows.handoff-start.actions]]
action = "notify"
on_call = ["incoming"]
{extra}"""


END_WORKFLOW = """
[workflows.handoff-end]
trigger = "shift_end"
schedule = "primary"
[[workflows.handoff-end.actions]]
action = "notify"
on_call = ["outgoing"]
users = ["bob"]
message = "{{ outgoing.name }} is off {{ schedule }}; {{ incoming.name or 'nobody' }} until {{ incoming.until }}"
"""


def whole_minute(offset: float = 0) -> float:
    # Overrides are written to the second: keep t0 whole so the handoffs fall where computed.
    return float(int(time.time() + offset))


def until(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%a %H:%M")


# --- pure --------------------------------------------------------------------------------------


def test_handoffs_are_changes_of_person_not_of_source() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
    schedule = ScheduleConfig.model_validate(
        {
            "layers": [{"users": ["alice", "alice", "bob"], "shift": "1d", "start": date(2026, 3, 2)}],
            # An override of alice by alice changes the source only: no handoff.
            "overrides": [{"user": "alice", "start": start + timedelta(hours=2), "end": start + timedelta(hours=5)}],
        }
    )
    first = handoffs.next_handoff(schedule, start - timedelta(days=1))
    assert first == start  # nobody -> alice
    second = handoffs.next_handoff(schedule, first)
    assert second == start + timedelta(days=2)  # alice (two shifts, an override inside) -> bob
    h = handoffs.handoff_at(schedule, second)
    assert (h.outgoing.user, h.incoming.user) == ("alice", "bob")  # type: ignore[union-attr]
    assert handoffs.fires("shift_start", h) and handoffs.fires("shift_end", h)
    assert not handoffs.fires("shift_end", handoffs.handoff_at(schedule, first))
    # Several handoffs passed: the latest of them.
    now = start + timedelta(days=3, hours=1)
    last, looked = handoffs.latest_handoff(schedule, first, now)
    assert last is not None and last.at == looked == start + timedelta(days=3)


def test_a_one_user_hourly_layer_is_looked_at_again_until_the_next_handoff() -> None:
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    far = start + timedelta(days=60)  # past MAX_STEPS hourly changes of source
    schedule = ScheduleConfig.model_validate(
        {
            "layers": [{"users": ["alice"], "shift": "1h", "start": date(2026, 3, 2), "handoff": "00:00"}],
            "overrides": [{"user": "bob", "start": far, "end": far + timedelta(hours=5)}],
        }
    )
    checkpoint = handoffs.next_handoff(schedule, start)
    assert checkpoint is not None and start < checkpoint < far
    assert not handoffs.is_handoff(handoffs.handoff_at(schedule, checkpoint))
    assert handoffs.next_handoff(schedule, checkpoint) == far
    # Down past a checkpoint and the handoff: the handoff fires; the next one is bob's end.
    last, looked = handoffs.latest_handoff(schedule, checkpoint, far + timedelta(hours=1))
    assert last is not None and last.at == far and last.incoming.user == "bob"  # type: ignore[union-attr]
    assert handoffs.next_handoff(schedule, looked) == far + timedelta(hours=5)
    # Only a checkpoint passed: nothing fires, the timer looks again later.
    last, looked = handoffs.latest_handoff(schedule, checkpoint, checkpoint + timedelta(minutes=1))
    assert last is None and looked == checkpoint


# --- in-process: the notice, once ----------------------------------------------------------------


async def test_a_handoff_notifies_the_incoming_and_outgoing_person_once(tmp_path: Path) -> None:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        t0 = whole_minute()
        config = write_config(tmp_path, config_text(smtp.port, t0, END_WORKFLOW))
        db = Db(tmp_path / "alertd.db")
        async with in_process(config) as app:
            await app.wait_until(lambda: len(db.rows("SELECT * FROM schedule_timers")) == 2, what="timers")
            assert {r["due"] for r in db.rows("SELECT due FROM schedule_timers")} == {t0 + 600}
            await app.advance(t0 + 601 - app.clock.now())
            await app.wait_until(lambda: mailbox.mails, what="alice told")
            await app.advance(60)  # more passes: nothing again
            await app.wait_until(lambda: not db.rows("SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"))
            [mail] = mailbox.mails
            assert mail["to"] == "alice@example.com"
            assert mail["subject"] == f"You are now on call for primary until {until(t0 + 4200, 'America/New_York')}"
            assert {r["workflow"]: r["due"] for r in db.rows("SELECT * FROM schedule_timers")} == {
                "handoff-start": t0 + 4200,
                "handoff-end": t0 + 4200,
            }
            # alice -> carol: alice (and bob, listed) told it ended, carol that she is on.
            await app.advance(t0 + 4201 - app.clock.now())
            await app.wait_until(lambda: len(mailbox.mails) == 4, what="three more notices")
            await app.advance(60)
            await app.wait_until(lambda: not db.rows("SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"))
            later = {m["to"]: m["subject"] for m in mailbox.mails[1:]}
            assert len(mailbox.mails) == 4
            carol_until = until(t0 + 7800, "Asia/Tokyo")
            assert later["carol@example.com"] == f"You are now on call for primary until {carol_until}"
            assert (
                later["alice@example.com"]
                == f"Alice A is off primary; Carol C until {until(t0 + 7800, 'America/New_York')}"
            )
            assert later["bob@example.com"].startswith("Alice A is off primary; Carol C until ")
        rows = db.rows("SELECT alert_id, purpose, status FROM outbox")
        assert rows and all(r["alert_id"] is None and r["status"] == "sent" for r in rows)
        assert db.rows("SELECT COUNT(*) AS n FROM alert_events")[0]["n"] == 0
        runs = db.rows("SELECT workflow, alert_id, matched FROM workflow_runs ORDER BY workflow, at")
        assert [(r["workflow"], r["matched"]) for r in runs] == [
            ("handoff-end", 1),
            ("handoff-start", 1),
            ("handoff-start", 1),
        ]
    finally:
        smtp.stop()


async def test_handoffs_missed_while_down_fire_once_for_the_latest(tmp_path: Path) -> None:
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        t0 = whole_minute()
        config = write_config(tmp_path, config_text(smtp.port, t0))
        db = Db(tmp_path / "alertd.db")
        async with in_process(config) as app:
            await app.wait_until(lambda: db.rows("SELECT * FROM schedule_timers"), what="the timer")
            # Past two handoffs at once (alice's and carol's start): one notice, to carol.
            await app.advance(t0 + 5000 - app.clock.now())
            await app.wait_until(lambda: mailbox.mails, what="carol told")
            await app.advance(60)
            await app.wait_until(lambda: not db.rows("SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"))
            assert [m["to"] for m in mailbox.mails] == ["carol@example.com"]
            [timer] = db.rows("SELECT * FROM schedule_timers")
            assert (timer["last_handoff"], timer["due"]) == (t0 + 4200, t0 + 7800)
    finally:
        smtp.stop()


async def test_a_reload_moves_the_next_handoff_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer loop syncs its row with a reloaded config at once, not at its next pass: a loop left
    asleep (here up to 60 s) would move a handoff due within that nap to the one after it."""
    from alertd import runtime
    from alertd.reload import reload_config
    from alertd.sdnotify import Notifier

    monkeypatch.setattr(runtime, "MAX_IDLE_SECONDS", 60.0)
    port, t0 = free_port(), whole_minute()
    config = write_config(tmp_path, config_text(port, t0))
    db = Db(tmp_path / "alertd.db")

    def due() -> float | None:
        rows = db.rows("SELECT due FROM schedule_timers")
        return rows[0]["due"] if rows else None

    async def refresh() -> None:
        return None

    async with in_process(config) as app:
        await app.wait_until(lambda: due() == t0 + 600, what="the timer")
        await app.wait_until(lambda: not app.runtime.wakeups["handoffs"].is_set(), what="the loop asleep")
        config.write_text(config.read_text().split("\n[outbox]")[0] + config_text(port, t0 - 300))
        assert await reload_config(config, app.runtime, Notifier(), refresh)
        await app.wait_until(lambda: due() == t0 + 300, timeout=10, what="the timer moved")


# --- the process: kill -9 between the timer and the delivery -------------------------------------


def test_kill_between_the_timer_and_the_delivery_neither_loses_nor_doubles_the_notice(tmp_path: Path) -> None:
    import signal

    from helpers import DaemonProcess, wait_until

    port = free_port()  # nobody listens yet: the notice waits in the outbox
    config = write_config(tmp_path, config_text(port, whole_minute()))
    db = Db(tmp_path / "alertd.db")
    daemon = DaemonProcess(config)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp_started = False
    try:
        daemon.start()
        wait_until(lambda: db.rows("SELECT * FROM schedule_timers"), what="the timer")
        # A reload moves the timer: alice's shift now starts 4-5 s from now (the reload must be
        # done by then, or the timer moves past her start; 2-3 s was too short under CI load).
        t0 = whole_minute(-595)
        config.write_text(config.read_text().split("\n[outbox]")[0] + config_text(port, t0))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("event=config.reloaded")
        wait_until(lambda: db.rows("SELECT due FROM schedule_timers")[0]["due"] == t0 + 600, what="the timer moved")
        [row] = wait_until(lambda: db.rows("SELECT * FROM outbox"), timeout=30, what="the notice queued")
        assert row["alert_id"] is None and row["address"] == "alice@example.com"
        wait_until(lambda: db.rows("SELECT 1 FROM outbox WHERE attempts > 0"), what="a failed attempt")
        daemon.kill()
        assert db.rows("SELECT due FROM schedule_timers")[0]["due"] == t0 + 4200
        smtp.start()
        smtp_started = True
        daemon.start()
        wait_until(lambda: mailbox.mails, what="the notice delivered")
        wait_until(lambda: db.rows("SELECT 1 FROM outbox WHERE status = 'sent'"), what="recorded as sent")
        daemon.kill()  # and once more: nothing new after a restart (once its timer loop has run)
        synced = db.rows("SELECT updated_at FROM schedule_timers")[0]["updated_at"]
        daemon.start()
        wait_until(lambda: db.rows("SELECT updated_at FROM schedule_timers")[0]["updated_at"] > synced)
        daemon.stop()
    finally:
        daemon.kill()
        if smtp_started:  # a failure before its start is reported, not stop()'s "not running"
            smtp.stop()
    assert [m["to"] for m in mailbox.mails] == ["alice@example.com"]
    assert len(db.rows("SELECT * FROM outbox")) == 1
    assert len(db.rows("SELECT * FROM workflow_runs")) == 1


# --- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('trigger = "shift_start"\nschedule = "nope"', "workflows.w.schedule", "[schedules] (primary)"),
        ('trigger = "shift_end"', "workflows.w", "schedule (the name of a [schedules] table)"),
        ('trigger = "opened"\nschedule = "primary"', "workflows.w", "schedule only with the schedule triggers"),
        (
            'trigger = "shift_start"\nschedule = "primary"\nwhen = { field = "x", exists = true }',
            "workflows.w",
            "no when",
        ),
        (
            'trigger = "opened"\nactions = [{ action = "notify", on_call = ["incoming"] }]',
            "workflows.w",
            "on_call only",
        ),
        (
            'trigger = "shift_start"\nschedule = "primary"\nactions = [{ action = "ack" }]',
            "workflows.w",
            "only notify and webhook actions",
        ),
        (
            'trigger = "shift_start"\nschedule = "primary"\nactions = [{ action = "notify", on_call = ["later"] }]',
            "workflows.w.actions[0].on_call[0]",
            "incoming",
        ),
        ('trigger = "shift_start"\nschedule = "' + "p" * 200 + '"', "workflows.w.schedule", "128"),
    ],
)
def test_check_config_names_each_schedule_trigger_mistake(tmp_path: Path, table: str, key: str, words: str) -> None:
    if "actions" not in table:
        table += '\nactions = [{ action = "notify", on_call = ["incoming"] }]'
    data = tomllib.loads(
        f'[users.alice]\n[schedules.primary]\nlayers = [{{ users = ["alice"] }}]\n[workflows.w]\n{table}\n'
    )
    with pytest.raises(ConfigError) as info:
        build_config(tmp_path / "a.toml", data, None)
    problems = [(p.key, p.message) for p in info.value.problems]
    assert any(k == key and words in m for k, m in problems), problems


def test_the_migration_keeps_outbox_rows_and_indexes(tmp_path: Path) -> None:
    from alertd.store import connect, write_transaction
    from alertd.store.schema import MIGRATIONS, _schedule_events, migrate

    db = connect(tmp_path / "a.db")
    before = [fn for _d, fn in MIGRATIONS].index(_schedule_events)
    migrate(db, target=before)
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'")}
    with write_transaction(db):
        db.execute(
            "INSERT INTO alerts (id, integration, source_id, status, title, created_at, updated_at) "
            "VALUES (1, 'i', 's', 'open', 't', 1, 1)"
        )
        for n in (1, 2):
            db.execute(
                "INSERT INTO outbox (alert_id, user, kind, address, purpose, step, idempotency_key, status, "
                "created_at, updated_at, failover_of) VALUES (1, 'u', 'email', 'a', 'alert', 's', ?, 'sent', 1, 1, ?)",
                [f"k{n}", None if n == 1 else 1],
            )
    migrate(db)
    assert [tuple(r) for r in db.execute("SELECT id, alert_id, failover_of FROM outbox ORDER BY id")] == [
        (1, 1, None),
        (2, 1, 1),
    ]
    after = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'")}
    assert after == indexes
    with write_transaction(db):
        db.execute(
            "INSERT INTO outbox (alert_id, user, kind, address, purpose, step, idempotency_key, status, "
            "created_at, updated_at) VALUES (NULL, 'u', 'email', 'a', 'workflow', 's', 'k3', 'pending', 1, 1)"
        )
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


# --- every built-in channel copes with a notice without an alert ---------------------------------


def test_every_built_in_channel_renders_a_notice_without_an_alert() -> None:
    import json
    from xml.etree import ElementTree

    from twilio.twiml.voice_response import VoiceResponse

    from alertd.channels import Notification
    from alertd_apprise.channel import body_for
    from alertd_ntfy import NtfySettings
    from alertd_ntfy.channel import publish_body
    from alertd_smtp.message import build_message
    from alertd_twilio.channels import sms_body
    from alertd_twilio.routes import call_menu
    from alertd_twilio.settings import TwilioSettings
    from alertd_webhook.channel import default_payload

    text = "You are now on call for primary until Tue 09:00\nhave a <quiet> week"
    notice = Notification(
        id=5,
        alert_id=None,
        user="alice",
        user_name="Alice A",
        kind="email",
        address="alice@example.com",
        purpose="workflow",
        step="workflow:handoff",
        idempotency_key="workflow:handoff:shift:1.0:0:alice:email",
        attempt=1,
        alert={},
        message=text,
    )
    mail = build_message(notice, "alertd@example.com")
    assert mail["Subject"] == "You are now on call for primary until Tue 09:00"
    assert mail["X-Alertd-Alert-Id"] is None
    plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "have a <quiet> week" in plain and "None" not in plain
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "have a &lt;quiet&gt; week" in html and "None" not in html
    assert sms_body(notice) == "You are now on call for primary until Tue 09:00"
    payload = default_payload(notice)
    assert payload["alert"] is None and payload["message"] == text
    assert body_for(notice).splitlines() == ["You are now on call for primary until Tue 09:00", "have a <quiet> week"]
    push = publish_body(notice, "oncall", NtfySettings())
    assert push["title"] == "You are now on call for primary until Tue 09:00" and "quiet" in push["message"]
    assert "actions" not in push or not push["actions"]
    settings = TwilioSettings(account_sid="AC" + "0" * 32, auth_token="x" * 32, from_number="+15555550100")
    row = {"kind": "voice", "alert_id": None, "payload": json.dumps({"message": "Bob is now on call."})}
    twiml = str(call_menu(settings, row, "https://alertd.example", 5, VoiceResponse()))
    said = " ".join(e.text or "" for e in ElementTree.fromstring(twiml).iter("Say"))
    assert "Bob is now on call." in said and "None" not in said
    assert "<Gather" not in twiml and "<Hangup" in twiml


async def test_a_handoff_webhook_is_signed_with_the_templated_or_default_body(tmp_path: Path) -> None:
    import hashlib
    import hmac
    import json

    from channel_fixtures import HttpPeer

    secret = "handoff-signing-secret-0123456789abcdef"
    template = '{"text": "{{ outgoing.name }} hands {{ schedule }} to {{ incoming.name }} until {{ incoming.until }}"}'
    with HttpPeer() as peer:
        hooks = f"""
[workflows.handoff-chat]
trigger = "shift_end"
schedule = "primary"
[[workflows.handoff-chat.actions]]
action = "webhook"
url = "{peer.url}/hooks/chat"
secret = "{secret}"
body = '{template}'
[[workflows.handoff-chat.actions]]
action = "webhook"
url = "{peer.url}/hooks/raw"
"""
        t0 = whole_minute()
        config = write_config(tmp_path, config_text(free_port(), t0, hooks))
        db = Db(tmp_path / "alertd.db")
        async with in_process(config) as app:
            await app.wait_until(lambda: len(db.rows("SELECT * FROM schedule_timers")) == 2, what="timers")
            await app.advance(t0 + 4201 - app.clock.now())  # alice -> carol (and alice's start before it)
            await app.wait_until(lambda: len(peer.requests) >= 2, what="both POSTs")
        chat = next(r for r in peer.requests if r.path == "/hooks/chat")
        timestamp = chat.headers["x-alertd-timestamp"]
        expected = (
            "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + chat.body, hashlib.sha256).hexdigest()
        )
        assert hmac.compare_digest(chat.headers["x-alertd-signature"], expected)
        assert chat.json() == {"text": f"Alice A hands primary to Carol C until {until(t0 + 7800, 'UTC')}"}
        raw = json.loads(next(r for r in peer.requests if r.path == "/hooks/raw").body)
        assert raw["trigger"]["kind"] == "shift_end" and raw["schedule"] == "primary"
        assert (raw["outgoing"]["user"], raw["incoming"]["user"]) == ("alice", "carol")
        assert raw["incoming"]["end_at"] == datetime.fromtimestamp(t0 + 7800, UTC).isoformat()
        assert len(peer.requests) == 2
