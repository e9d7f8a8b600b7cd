"""The whole mission, end to end with real protocol peers: a signed CloudWatch ALARM through SNS
opens an alert; the on-call user gets an SMS (fake Twilio API) and an email (aiosmtpd); replying
``ACK <id>`` by SMS acknowledges it and stops the escalation; the OK message closes it and the
closure is notified on the same channels.

The daemon runs in-process (tests/inprocess.py): what is tested is the path, not the process."""

from __future__ import annotations

import email
import email.policy
import json
import time
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, signature
from helpers import free_port
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import InProcess, in_process
from sns_signing import headers_for, notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

ALICE_PHONE = "+15555550101"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK queued"

    def wait_for(self, predicate: Any, timeout: float = 15) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if predicate(message):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no such mail; got {[m['Subject'] for m in self.messages]}")


@pytest.fixture
def world(tmp_path):
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    twilio = FakeTwilio().start()
    port = free_port()
    extra = f"""
[channels.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from_address = "alertd <alertd@example.com>"

[channels.twilio_sms]
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
from_number = "{FROM_NUMBER}"
api_base_url = "{twilio.url}"

[users.alice]
full_name = "Alice"
contact = {{ email = "alice@example.com", sms = "{ALICE_PHONE}" }}
[users.bob]
contact = {{ email = "bob@example.com" }}

[schedules.primary]
timezone = "Europe/Berlin"
[[schedules.primary.layers]]
users = ["alice"]
shift = "1w"

[escalation_policies.security]
[[escalation_policies.security.levels]]
schedules = ["primary"]
delay_minutes = 10
[[escalation_policies.security.levels]]
users = ["bob"]
"""
    config = sns_config(
        tmp_path,
        extra,
        port=port,
        server=f'public_url = "http://127.0.0.1:{port}"',
        alarms='escalation_policy = "security"\nnotify_on_close = true',
    )
    yield config, twilio, mailbox, Db(tmp_path / "alertd.db")
    twilio.stop()
    smtp.stop()


async def post_envelope(app: InProcess, envelope: dict, token: str = TOKEN) -> Any:
    return await app.post(f"/in/{token}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))


async def test_alarm_sms_email_ack_by_sms_then_ok_closes(world) -> None:
    config, twilio, mailbox, db = world
    async with in_process(config) as app:
        await alarm_sms_email_ack_by_sms_then_ok_closes(app, twilio, mailbox, db)


async def alarm_sms_email_ack_by_sms_then_ok_closes(
    app: InProcess, twilio: FakeTwilio, mailbox: Mailbox, db: Db
) -> None:
    public_url = app.runtime.config.public_url
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    assert (await post_envelope(app, notification(message))).status_code == 200
    alert = db.alerts()[-1]
    aid = alert["id"]

    sms = await app.off_loop(twilio.wait_for, "Messages", To=ALICE_PHONE)
    assert sms.params["Body"].startswith(f"[CRITICAL] #{aid} ConsoleSignInFailures: Threshold Crossed")
    assert sms.params["Body"].endswith(f"Reply ACK {aid} or CLOSE {aid}")
    mail = await app.off_loop(mailbox.wait_for, lambda m: m["To"] == "alice@example.com")
    assert f"#{aid}" in mail["Subject"] and "ConsoleSignInFailures" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert f"{public_url}/act/" in text and "ConsoleSigninFailureCount" in text

    # ACK by SMS, signed like Twilio signs it.
    params = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": ALICE_PHONE,
        "To": FROM_NUMBER,
        "Body": f"ack {aid}",
    }
    url = f"{public_url}/twilio/sms/inbound"
    reply = await app.post("/twilio/sms/inbound", data=params, headers={"X-Twilio-Signature": signature(url, params)})
    assert reply.status_code == 200 and f"Acknowledged #{aid}" in reply.text
    row = db.rows("SELECT * FROM alerts WHERE id = ?", (aid,))[0]
    assert (row["status"], row["acknowledged_by"]) == ("acknowledged", "alice")
    plan = db.rows("SELECT * FROM escalations WHERE alert_id = ?", (aid,))[0]
    assert (plan["state"], plan["reason"]) == ("stopped", "acknowledged")
    # Level 2 (bob) must not fire. Checked against a later marker, not a sleep: a second alarm
    # opened now reaches bob after alert #aid's level 2 would have (due steps fire in due order).
    # The clock jumps past both level 2s (a real 10 min: the ack never races the delay under load).
    marker_message = message.replace("ConsoleSignInFailures", "MarkerAlarm")
    assert (await post_envelope(app, notification(marker_message))).status_code == 200
    marker = db.inbound()[-1]["alert_id"]
    assert marker != aid
    await app.wait_until(
        lambda: db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND user = 'alice'", (marker,)),
        what="the marker alert's first level",
    )
    await app.advance(10 * 60 + 1)
    await app.wait_until(
        lambda: db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND user = 'bob'", (marker,)),
        what="the marker alert to reach bob",
    )
    assert not db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND user = 'bob'", (aid,))
    await app.off_loop(mailbox.wait_for, lambda m: m["To"] == "bob@example.com" and f"#{marker}" in m["Subject"])
    assert not [m for m in mailbox.messages if m["To"] == "bob@example.com" and f"#{aid}" in m["Subject"]]

    # The alarm recovers: OK closes the alert and the closure reaches Alice by SMS and email.
    ok_message, _, _ = sample_message("sns-cloudwatch-alarm-OK.json")
    assert (await post_envelope(app, notification(ok_message), token=TOKEN)).status_code == 200
    assert db.inbound()[-1]["outcome"] == "Mapped Closed"
    assert db.rows("SELECT status FROM alerts WHERE id = ?", (aid,))[0]["status"] == "closed"
    resolved = await app.off_loop(
        twilio.wait_for, "Messages", To=ALICE_PHONE, match=lambda r: r.params["Body"].startswith("[RESOLVED]")
    )
    assert f"#{aid}" in resolved.params["Body"]
    await app.off_loop(mailbox.wait_for, lambda m: m["To"] == "alice@example.com" and "RESOLVED" in m["Subject"])
    timeline = [
        (e["kind"], e["actor"], e["via"])
        for e in db.rows("SELECT * FROM alert_events WHERE alert_id = ? ORDER BY id", (aid,))
    ]
    assert ("acknowledged", "alice", "sms") in timeline and ("closed", "alarms", "source") in timeline
    assert json.loads(
        db.rows("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = 'escalated'", (aid,))[0]["detail"]
    )["via"] == {"alice": "schedule:primary"}
