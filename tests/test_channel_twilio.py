"""The Twilio plugin: channels against a fake Twilio API, webhooks driven like Twilio drives them."""

from __future__ import annotations

import json
import signal
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from quart_trio import QuartTrio

from alertd.channels import Notification
from alertd.replies import HELP
from alertd_twilio.channels import SMS, SMS_MAX_CHARS, VOICE
from alertd_twilio.routes import blueprint
from alertd_twilio.settings import TwilioSettings
from fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, signature
from helpers import DaemonProcess, free_port, run_cli_in_process, wait_until, write_config
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from sns_signing import notification as sns_notification

ALICE = "+15551230001"
BOB = "+15551230002"
PUBLIC = "https://alertd.example.org"


# --- the channels against the fake API ---------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def settings(fake: FakeTwilio | None = None, **changes: Any) -> TwilioSettings:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_base_url": fake.url if fake else None,
        **changes,
    }
    return TwilioSettings(**values)


def note(kind: str = "sms", purpose: str = "alert", title: str = "Disk full on db-1", **changes: Any) -> Notification:
    values: dict[str, Any] = {
        "id": 7,
        "alert_id": 42,
        "user": "alice",
        "user_name": "Alice",
        "kind": kind,
        "address": ALICE,
        "purpose": purpose,
        "step": "p0-l0",
        "idempotency_key": f"{purpose}:42:p0-l0:alice:{kind}",
        "attempt": 1,
        "alert": {"id": 42, "title": title, "severity": "critical"},
        "public_url": PUBLIC,
        **changes,
    }
    return Notification(**values)


async def test_sms_send_posts_the_message_and_returns_its_sid(fake: FakeTwilio) -> None:
    result = await SMS.send(note(), settings(fake), None)
    [sent] = fake.created("Messages")
    assert result.status == "sent" and result.provider_id == sent.sid and sent.sid.startswith("SM")
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert sent.params == {
        "To": ALICE,
        "From": FROM_NUMBER,
        "Body": "[CRITICAL] #42 Disk full on db-1\nReply ACK 42 or CLOSE 42",
        "StatusCallback": f"{PUBLIC}/twilio/status/sms?n=7",
    }


async def test_sms_body_is_clipped_and_closure_notices_say_resolved(fake: FakeTwilio) -> None:
    await SMS.send(note(title="x" * 1000), settings(fake, status_callbacks=False), None)
    await SMS.send(note(purpose="closed"), settings(fake), None)
    long, closed = (r.params for r in fake.created("Messages"))
    assert len(long["Body"]) <= SMS_MAX_CHARS
    assert long["Body"].endswith("...\nReply ACK 42 or CLOSE 42")
    assert "StatusCallback" not in long
    assert closed["Body"] == "[RESOLVED] #42 Disk full on db-1"


async def test_a_workflow_notice_by_sms_is_its_message_with_the_alert_link(fake: FakeTwilio) -> None:
    view = f"{PUBLIC}/alerts/42"
    message = "Security lead: root login failed\nCheck CloudTrail now.\n" + "y" * 400
    await SMS.send(note(purpose="workflow", message=message, links={"view": view}), settings(fake), None)
    [sent] = fake.created("Messages")
    body = sent.params["Body"]
    assert body.startswith("Security lead: root login failed\nCheck CloudTrail now.\nyyy")
    # Clipped to fit, but the alert it is about (and its page) survives; no ACK/CLOSE: told, not paged.
    assert body.endswith(f"...\nAlert #42: {view}") and len(body) <= SMS_MAX_CHARS
    assert "Reply ACK" not in body


async def test_call_points_twilio_at_the_twiml_url(fake: FakeTwilio) -> None:
    result = await VOICE.send(note("voice"), settings(fake, ring_seconds=20), None)
    [call] = fake.created("Calls")
    assert result.status == "sent" and result.provider_id == call.sid and call.sid.startswith("CA")
    assert call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert call.params["To"] == ALICE and call.params["From"] == FROM_NUMBER
    assert call.params["Url"] == f"{PUBLIC}/twilio/voice/twiml/7"
    assert call.params["Method"] == "POST" and call.params["Timeout"] == "20"
    assert call.params["StatusCallback"] == f"{PUBLIC}/twilio/status/voice?n=7"
    assert call.params["StatusCallbackEvent"] == "completed"


async def test_no_call_for_a_closure_notice(fake: FakeTwilio) -> None:
    result = await VOICE.send(note("voice", purpose="closed"), settings(fake), None)
    assert result.status == "failed" and "only calls to page" in (result.error or "")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "code", "expected", "text"),
    [
        (500, None, "retry", "HTTP 500"),
        (503, 20503, "retry", "HTTP 503"),
        (429, 20429, "retry", "HTTP 429: Twilio error 20429: Too Many Requests"),
        (400, 21211, "failed", "Twilio error 21211: The 'To' number +1555 is not a valid phone number."),
        (400, 21610, "failed", "Twilio error 21610: Attempt to send to unsubscribed recipient"),
    ],
)
async def test_error_mapping(fake: FakeTwilio, status: int, code: int | None, expected: str, text: str) -> None:
    messages = {
        20429: "Too Many Requests",
        21211: "The 'To' number +1555 is not a valid phone number.",
        21610: "Attempt to send to unsubscribed recipient",
    }
    fake.fail_next(2, status, code, messages.get(code or 0, "Service unavailable"))
    sms = await SMS.send(note(), settings(fake), None)
    call = await VOICE.send(note("voice"), settings(fake), None)
    for result in (sms, call):
        assert result.status == expected and result.provider_id is None
        assert text in (result.error or "")
    assert len(fake.requests) == 2 and fake.created("Messages") == []


async def test_wrong_credentials_fail_and_an_unreachable_api_is_retried(fake: FakeTwilio) -> None:
    result = await SMS.send(note(), settings(fake, auth_token="not-the-token"), None)
    assert result.status == "failed" and "Twilio error 20003" in (result.error or "")
    result = await SMS.send(note(), settings(api_base_url=f"http://127.0.0.1:{free_port()}"), None)
    assert result.status == "retry" and "cannot reach Twilio: ConnectionError" in (result.error or "")


def test_settings_are_strict() -> None:
    with pytest.raises(ValidationError) as info:
        TwilioSettings(account_sid="nope", auth_token=" ", from_number="5551234", colour="blue")  # type: ignore[call-arg]
    bad = {err["loc"][0] for err in info.value.errors()}
    assert bad == {"account_sid", "auth_token", "from_number", "colour"}
    assert settings().repeat == 2 and settings().api_base_url is None


async def test_routes_answer_404_while_twilio_is_not_configured() -> None:
    runtime = SimpleNamespace(config=SimpleNamespace(channels={}, public_url=PUBLIC))
    app = QuartTrio("test")
    app.register_blueprint(blueprint(runtime))  # type: ignore[arg-type]
    client = app.test_client()
    response = await client.post("/twilio/sms/inbound", form={"From": ALICE, "Body": "ACK"})
    assert response.status_code == 404


# --- end to end: a real daemon, the fake API, Twilio's webhooks ------------------------------

TOKEN = "twilio-pager-integration-token-0123456789"
TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"


def daemon_config(fake: FakeTwilio, port: int) -> str:
    twilio = (
        f'account_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\n'
        f'from_number = "{FROM_NUMBER}"\napi_base_url = "{fake.url}"\n'
    )
    return f"""
[outbox]
backoff_base_seconds = 0.2
backoff_max_seconds = 1

[integrations.pager]
type = "aws_sns"
token = "{TOKEN}"
escalation_policy = "ops"
[integrations.pager.options]
topic_arns = ["{TOPIC}"]

[users.alice]
full_name = "Alice"
contact = {{ sms = "{ALICE}", voice = "{ALICE}" }}
notify = [{{ method = "sms" }}, {{ method = "voice", after_minutes = 30 }}]

[users.bob]
contact = {{ voice = "{BOB}" }}

[escalation_policies.ops]
levels = [{{ users = ["alice", "bob"], delay_minutes = 30 }}]
repeat = 3

[channels.twilio_sms]
{twilio}
[channels.twilio_voice]
{twilio}repeat = 2
gather_timeout = 5
"""


class Env(SimpleNamespace):
    daemon: DaemonProcess
    fake: FakeTwilio
    db: Db
    public: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, module_backend: str) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("twilio")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTwilio() as fake:
        config = sns_config(tmp, daemon_config(fake, port), port=port, server=f'public_url = "{public}"')
        with DaemonProcess(config) as daemon:
            yield Env(daemon=daemon, fake=fake, db=Db(tmp / "alertd.db"), public=public)
            errors = [line for line in daemon.lines if "level=error" in line]
            assert errors == [], "\n".join(errors)


def open_alert(env: Env, name: str) -> dict[str, Any]:
    """Fire a CloudWatch alarm named ``name`` through the signed SNS path; return the new alert."""
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    alarm = json.loads(message)
    alarm["AlarmName"] = name
    alarm["AlarmArn"] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    response = post_envelope(env.daemon, sns_notification(alarm, topic=TOPIC), token=TOKEN)
    assert response.status_code == 200, response.text
    [alert] = env.db.rows("SELECT * FROM alerts WHERE source_id = ?", (alarm["AlarmArn"],))
    assert alert["status"] == "open"
    return alert


def outbox_row(env: Env, alert_id: int, user: str, kind: str, status: str | None = None) -> dict[str, Any] | None:
    rows = env.db.rows(
        "SELECT * FROM outbox WHERE alert_id = ? AND user = ? AND kind = ? AND purpose = 'alert'",
        (alert_id, user, kind),
    )
    return rows[0] if rows and (status is None or rows[0]["status"] == status) else None


def sent_row(env: Env, alert_id: int, user: str, kind: str) -> dict[str, Any]:
    return wait_until(lambda: outbox_row(env, alert_id, user, kind, "sent"), what=f"{kind} to {user} sent")


def webhook(
    env: Env, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN, signed: bool = True
) -> httpx.Response:
    headers = {"X-Twilio-Signature": signature(env.public + path, params, token)} if signed else {}
    return env.daemon.post(path, data=params, headers=headers)


def sms_params(body: str, sender: str = ALICE, sid: str | None = None) -> dict[str, str]:
    """An inbound SMS as Twilio posts it; each message has its own MessageSid unless ``sid`` is given."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "To": FROM_NUMBER, "Body": body}


def sms_reply(env: Env, body: str, sender: str = ALICE, sid: str | None = None, **kw: Any) -> httpx.Response:
    return webhook(env, "/twilio/sms/inbound", sms_params(body, sender, sid), **kw)


def reply_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root.findtext("Message") or ""


def alert_of(env: Env, alert_id: int) -> dict[str, Any]:
    return env.db.rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))[0]


def events_of(env: Env, alert_id: int) -> list[dict[str, Any]]:
    return env.db.rows("SELECT kind, actor, via FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))


def test_sms_page_and_ack_reply(env: Env) -> None:
    alert = open_alert(env, "TwilioAckReply")
    aid = alert["id"]
    sms = env.fake.wait_for("Messages", To=ALICE, match=lambda r: f"#{aid} " in r.params["Body"])
    assert sms.params["Body"] == f"[CRITICAL] #{aid} {alert['title']}\nReply ACK {aid} or CLOSE {aid}"
    assert sms.params["From"] == FROM_NUMBER
    row = sent_row(env, aid, "alice", "sms")
    assert sms.params["StatusCallback"] == f"{env.public}/twilio/status/sms?n={row['id']}"
    assert (row["channel"], row["provider_id"]) == ("twilio_sms", sms.sid)

    assert env.db.rows("SELECT state FROM escalations WHERE alert_id = ?", (aid,)) == [{"state": "active"}]

    # Not from Twilio: refused, logged, nothing changes.
    start = len(env.daemon.lines)
    forged = sms_reply(env, f"ACK {aid}", token="someone-elses-token")
    assert forged.status_code == 403 and "invalid X-Twilio-Signature" in forged.text
    unsigned = sms_reply(env, f"ACK {aid}", signed=False)
    assert unsigned.status_code == 403 and "missing X-Twilio-Signature" in unsigned.text
    env.daemon.wait_for("event=twilio.webhook_rejected", start=start)
    assert alert_of(env, aid)["status"] == "open"

    assert reply_text(sms_reply(env, f"ACK {aid}")) == f"Acknowledged #{aid}: {alert['title']}"[:300]
    acked = alert_of(env, aid)
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "alice")
    assert {"kind": "acknowledged", "actor": "alice", "via": "sms"} in events_of(env, aid)
    [plan] = env.db.rows("SELECT state, reason FROM escalations WHERE alert_id = ?", (aid,))
    assert plan == {"state": "stopped", "reason": "acknowledged"}
    # Alice's voice call, due in 30 minutes, will not come.
    assert outbox_row(env, aid, "alice", "voice", "cancelled") is not None

    # Twilio reports the SMS delivered.
    status = {"MessageSid": sms.sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert webhook(env, "/twilio/status/sms", status).status_code == 204
    assert outbox_row(env, aid, "alice", "sms", "delivered") is not None


def test_sms_replies_that_do_nothing(env: Env) -> None:
    assert reply_text(sms_reply(env, "hello")) == HELP
    assert reply_text(sms_reply(env, "ACK 1", sender="+15559999999")) == "This number is not known to alertd."


def test_bare_ack_acknowledges_the_latest_page(env: Env) -> None:
    older = open_alert(env, "TwilioBareAckOlder")
    sent_row(env, older["id"], "alice", "sms")
    alert = open_alert(env, "TwilioBareAck")
    sent_row(env, alert["id"], "alice", "sms")
    assert reply_text(sms_reply(env, "ack")) == f"Acknowledged #{alert['id']}: {alert['title']}"[:300]
    assert alert_of(env, alert["id"])["status"] == "acknowledged"
    assert alert_of(env, older["id"])["status"] == "open"


def test_a_replayed_sms_reply_does_nothing(env: Env) -> None:
    # A captured signed "ACK" stays valid (Twilio signs no timestamp): replayed after a new page, it
    # must not acknowledge the new alert; it is answered 200 with no reply message.
    first = open_alert(env, "TwilioReplayFirst")
    sent_row(env, first["id"], "alice", "sms")
    captured = sms_params("ACK")
    assert reply_text(webhook(env, "/twilio/sms/inbound", captured)).startswith(f"Acknowledged #{first['id']}")
    second = open_alert(env, "TwilioReplaySecond")
    sent_row(env, second["id"], "alice", "sms")

    start = len(env.daemon.lines)
    replayed = webhook(env, "/twilio/sms/inbound", captured)
    assert reply_text(replayed) == ""
    env.daemon.wait_for("event=twilio.sms_replayed", start=start)
    assert alert_of(env, second["id"])["status"] == "open"
    assert not {"acknowledged", "ack_repeated", "closed"} & {e["kind"] for e in events_of(env, second["id"])}
    # The same words in a new message (a new MessageSid) still act.
    assert reply_text(sms_reply(env, "ACK")).startswith(f"Acknowledged #{second['id']}")
    # A signed request without a MessageSid is refused with its reason.
    params = {k: v for k, v in sms_params("ACK").items() if k != "MessageSid"}
    missing = webhook(env, "/twilio/sms/inbound", params)
    assert missing.status_code == 400 and "MessageSid" in missing.text


def test_a_replayed_keypress_does_nothing(env: Env) -> None:
    alert = open_alert(env, "TwilioReplayKeypress")
    aid = alert["id"]
    nid = sent_row(env, aid, "bob", "voice")["id"]
    call = env.fake.wait_for("Calls", To=BOB, Url=f"{env.public}/twilio/voice/twiml/{nid}")
    press = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": BOB, "Digits": "1"}
    path = f"/twilio/voice/gather/{nid}"
    acked = ET.fromstring(webhook(env, path, press).text)
    assert acked.findtext("Say") == f"Alert {aid} acknowledged. Goodbye."
    before = events_of(env, aid)

    start = len(env.daemon.lines)
    replayed = webhook(env, path, press)
    assert replayed.status_code == 200 and ET.fromstring(replayed.text).findtext("Say") == "Goodbye."
    env.daemon.wait_for("event=twilio.gather_replayed", start=start)
    after = [e for e in events_of(env, aid) if e["via"] == "voice"]
    assert after == [e for e in before if e["via"] == "voice"]  # no "ack_repeated"


def test_a_keypress_of_a_user_removed_from_the_config_is_refused(tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTwilio() as fake:
        config = sns_config(tmp_path, daemon_config(fake, port), port=port, server=f'public_url = "{public}"')
        with DaemonProcess(config) as daemon:
            local = Env(daemon=daemon, fake=fake, db=Db(tmp_path / "alertd.db"), public=public)
            aid = open_alert(local, "TwilioRemovedUser")["id"]
            nid = sent_row(local, aid, "bob", "voice")["id"]
            call = fake.wait_for("Calls", To=BOB)
            # Bob leaves: he is removed from the config (and the policy) and the daemon reloads.
            text = config.read_text()
            text = text.replace('users = ["alice", "bob"]', 'users = ["alice"]')
            text = text.replace(f'[users.bob]\ncontact = {{ voice = "{BOB}" }}\n', "")
            config.write_text(text)
            start = len(daemon.lines)
            daemon.signal(signal.SIGHUP)
            daemon.wait_for("event=config.reloaded", start=start)

            press = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": BOB, "Digits": "1"}
            answer = ET.fromstring(webhook(local, f"/twilio/voice/gather/{nid}", press).text)
            assert "user 'bob' is not configured" in (answer.findtext("Say") or "")
            assert alert_of(local, aid)["status"] == "open"


def test_sms_reply_with_an_alert_number_beyond_2_63(env: Env) -> None:
    for number in ("99999999999999999999999", "9223372036854775808", "9" * 5000, "0"):
        answer = reply_text(sms_reply(env, f"ACK {number}"))
        assert answer.startswith("There is no alert with that number."), answer


def test_a_failed_send_is_retried(env: Env) -> None:
    env.fake.fail_next(1, 503, 20503, "Service Unavailable", resource="Messages")
    alert = open_alert(env, "TwilioRetry")
    row = sent_row(env, alert["id"], "alice", "sms")
    assert row["attempts"] == 2 and row["last_error"] is None


def test_voice_call_twiml_and_keypress(env: Env) -> None:
    alert = open_alert(env, "TwilioVoice")
    aid = alert["id"]
    row = sent_row(env, aid, "bob", "voice")
    nid = row["id"]
    twiml_url = f"{env.public}/twilio/voice/twiml/{nid}"
    call = env.fake.wait_for("Calls", To=BOB, Url=twiml_url)
    assert (
        row["provider_id"] == call.sid and call.params["StatusCallback"] == f"{env.public}/twilio/status/voice?n={nid}"
    )

    call_params = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": BOB}
    path = f"/twilio/voice/twiml/{nid}"
    assert webhook(env, path, {**call_params, "CallStatus": "in-progress"}, token="wrong").status_code == 403
    response = webhook(env, path, {**call_params, "CallStatus": "in-progress"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "numDigits": "1",
        "action": f"{env.public}/twilio/voice/gather/{nid}",
        "method": "POST",
        "timeout": "5",
    }
    readings = [say.text or "" for say in gather.findall("Say")]
    assert len(readings) == 2
    assert f"Alert {aid}, severity critical: {alert['title']}" in readings[0]
    assert readings[0].endswith("Press 1 to acknowledge, 2 to close, 3 to repeat.")
    assert "Goodbye" in (root.findtext("Say") or "") and root.find("Hangup") is not None

    gather_path = f"/twilio/voice/gather/{nid}"
    again = ET.fromstring(webhook(env, gather_path, {**call_params, "Digits": "9"}).text)
    assert "did not understand" in (again.findtext("Say") or "") and again.find("Gather") is not None
    repeat = ET.fromstring(webhook(env, gather_path, {**call_params, "Digits": "3"}).text)
    assert repeat.findtext("Redirect") == twiml_url

    closed = ET.fromstring(webhook(env, gather_path, {**call_params, "Digits": "2"}).text)
    assert closed.findtext("Say") == f"Alert {aid} closed. Goodbye."
    assert (alert_of(env, aid)["status"], alert_of(env, aid)["closed_by"]) == ("closed", "bob")
    assert {"kind": "closed", "actor": "bob", "via": "voice"} in events_of(env, aid)

    late = ET.fromstring(webhook(env, gather_path, {**call_params, "Digits": "1"}).text)
    assert late.findtext("Say") == f"Alert {aid} was not acknowledged: alert number {aid} is closed. Goodbye."
    over = ET.fromstring(webhook(env, path, call_params).text)
    assert over.findtext("Say") == f"Alert {aid} is already closed. Goodbye." and over.find("Gather") is None
    unknown = ET.fromstring(webhook(env, "/twilio/voice/twiml/999999", call_params).text)
    assert (unknown.findtext("Say") or "").startswith("Sorry")

    completed = {**call_params, "CallStatus": "completed", "CallDuration": "31"}
    assert webhook(env, "/twilio/status/voice", completed).status_code == 204
    assert outbox_row(env, aid, "bob", "voice", "delivered") is not None


def test_undelivered_sms_pulls_the_next_contact_method_forward(env: Env) -> None:
    alert = open_alert(env, "TwilioFailover")
    aid = alert["id"]
    sms = sent_row(env, aid, "alice", "sms")
    voice = outbox_row(env, aid, "alice", "voice", "pending")
    assert voice is not None and voice["next_attempt_at"] > time.time() + 25 * 60

    status = {"MessageSid": sms["provider_id"], "AccountSid": ACCOUNT_SID, "To": ALICE}
    assert webhook(env, "/twilio/status/sms", {**status, "MessageStatus": "sent"}).status_code == 204
    assert outbox_row(env, aid, "alice", "sms", "sent") is not None
    forged = {**status, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert webhook(env, "/twilio/status/sms", forged, token="wrong").status_code == 403
    assert outbox_row(env, aid, "alice", "sms", "sent") is not None

    assert webhook(env, "/twilio/status/sms", forged).status_code == 204
    failed = outbox_row(env, aid, "alice", "sms", "failed")
    assert failed is not None and failed["last_error"] == "Twilio reported undelivered: error 30003"
    call = env.fake.wait_for("Calls", To=ALICE, Url=f"{env.public}/twilio/voice/twiml/{voice['id']}", timeout=10)
    assert sent_row(env, aid, "alice", "voice")["provider_id"] == call.sid
    kinds = [e["kind"] for e in events_of(env, aid)]
    assert "notification_failed" in kinds and "notification_failover" in kinds


# --- configuration and the command line -----------------------------------------------------


def test_bad_channel_settings_are_reported_with_the_plugin(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[channels.twilio_sms]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "x"\n'
        'from_number = "555-1234"\ncolour = "blue"\n',
    )
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "channels.twilio_sms.colour: unknown key" in out and "(plugin twilio_sms)" in out
    assert "channels.twilio_sms.from_number" in out


def test_webhooks_command_prints_the_urls(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[channels.twilio_voice]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"\n'
        f'from_number = "{FROM_NUMBER}"\n',
        server=f'public_url = "{PUBLIC}"',
    )
    result = run_cli_in_process("twilio", "webhooks", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert f"{PUBLIC}/twilio/sms/inbound" in result.stdout
    assert f"{PUBLIC}/twilio/status/voice" in result.stdout


def test_snooze_reply_through_the_twilio_route(env: Env) -> None:
    # Issue 11: SNOOZE <id> <minutes> by SMS; the alert is acknowledged by alice until then.
    alert = open_alert(env, "TwilioSnoozeReply")
    aid = alert["id"]
    sent_row(env, aid, "alice", "sms")
    assert reply_text(sms_reply(env, f"SNOOZE {aid} 45")) == f"Snoozed for 45 min #{aid}: {alert['title']}"[:300]
    snoozed = alert_of(env, aid)
    assert (snoozed["status"], snoozed["acknowledged_by"]) == ("acknowledged", "alice")
    assert {"kind": "snoozed", "actor": "alice", "via": "sms"} in events_of(env, aid)
    [timer] = env.db.rows("SELECT kind, state, due FROM alert_timers WHERE alert_id = ?", (aid,))
    assert (timer["kind"], timer["state"]) == ("snooze", "pending")
    assert abs(timer["due"] - (snoozed["snoozed_until"])) < 1e-6
