"""The inbound path end to end: a signed SNS sender against a real daemon."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from helpers import DaemonProcess, free_port, run_cli_in_process
from inbound_fixtures import EVENTS_TOKEN, TOKEN, Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread, in_process
from sns_signing import headers_for, notification, sign_message, subscription_confirmation

ALARMS_B_TOKEN = "cloudtrail-alarms-b-test-token-0123456789"
# A second integration with the same ruleset and topic: the same alarm arrives on both.
ALARMS_B = f"""
[integrations.alarms_b]
type = "aws_sns"
token = "{ALARMS_B_TOKEN}"
[integrations.alarms_b.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, module_backend: str):
    tmp = tmp_path_factory.mktemp("inbound")
    # Any certificate fetch goes to a closed local port: nothing reaches the internet.
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": ""}
    d = DaemonProcess(sns_config(tmp, ALARMS_B), env=env)
    d.tmp = tmp  # type: ignore[attr-defined]
    with d:
        yield d


@pytest.fixture
def db(daemon: DaemonProcess) -> Db:
    return Db(daemon.tmp / "alertd.db")  # type: ignore[attr-defined]


SAMPLE_ALARM = "ConsoleSignInFailures"


def alarm_name() -> str:
    """A fresh alarm for each test, so that no test depends on what another left open."""
    return f"Alarm{uuid.uuid4().hex[:10]}"


def send_sample(
    daemon: DaemonProcess | InProcessThread,
    name: str,
    *,
    message_id: str | None = None,
    alarm: str = SAMPLE_ALARM,
    token: str = TOKEN,
) -> tuple[dict, int]:
    message, sample_id, subject = sample_message(name)
    message = message.replace(SAMPLE_ALARM, alarm)
    envelope = notification(message, message_id=message_id or sample_id, subject=subject)
    response = post_envelope(daemon, envelope, token=token)
    return envelope, response.status_code


def last_row(db: Db) -> dict:
    return db.inbound()[-1]


def arn(alarm: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"


def flow(daemon: DaemonProcess, db: Db, closing: str, alarm: str) -> int:
    """ALARM, a repeat, a recovery and a redelivery of the first ALARM; returns the alert id."""
    run = uuid.uuid4().hex[:8]
    before = len(db.alerts())
    first, status = send_sample(daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=f"{run}-1", alarm=alarm)
    assert status == 200
    opened = last_row(db)
    assert opened["outcome"] == "Mapped Open" and opened["accepted"] == 1
    alert_id = opened["alert_id"]
    alert = db.rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))[0]
    assert alert["status"] == "open"
    assert alert["source_id"] == arn(alarm)
    assert alert["title"].startswith(f"{alarm}: Threshold Crossed")

    _, status = send_sample(daemon, "sns-cloudwatch-alarm-ALARM-repeat.json", message_id=f"{run}-2", alarm=alarm)
    assert status == 200
    appended = last_row(db)
    assert (appended["outcome"], appended["alert_id"]) == ("Mapped Appended", alert_id)
    assert len(db.alerts()) == before + 1  # a repeat opens nothing

    _, status = send_sample(daemon, closing, message_id=f"{run}-3", alarm=alarm)
    assert status == 200
    closed = last_row(db)
    assert (closed["outcome"], closed["alert_id"]) == ("Mapped Closed", alert_id)
    alert = db.rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))[0]
    assert alert["status"] == "closed" and alert["append_count"] == 1 and alert["closed_by"] == "alarms"
    assert len(db.alerts()) == before + 1

    # SNS redelivers the first ALARM: recorded, changes nothing.
    response = post_envelope(daemon, first)
    assert response.status_code == 200
    dup = last_row(db)
    assert dup["outcome"] == "Duplicate Delivery" and dup["accepted"] == 0
    assert dup["reason"] == f"message id first delivered as inbound #{opened['id']}"
    assert len(db.alerts()) == before + 1
    assert db.rows("SELECT status FROM alerts WHERE id = ?", (alert_id,))[0]["status"] == "closed"
    kinds = [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))]
    assert kinds[-2:] == ["appended", "closed"]
    return alert_id


def test_alarm_repeat_ok_flow(daemon: DaemonProcess, db: Db) -> None:
    alert_id = flow(daemon, db, "sns-cloudwatch-alarm-OK.json", alarm_name())
    kinds = [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))]
    assert kinds == ["opened", "appended", "closed"]


def test_alarm_repeat_insufficient_data_flow_reopens_linked(daemon: DaemonProcess, db: Db) -> None:
    alarm = alarm_name()
    first = flow(daemon, db, "sns-cloudwatch-alarm-OK.json", alarm)
    second = flow(daemon, db, "sns-cloudwatch-alarm-INSUFFICIENT_DATA.json", alarm)
    assert second != first
    assert db.rows("SELECT previous_alert_id FROM alerts WHERE id = ?", (second,))[0]["previous_alert_id"] == first
    reopened = db.rows("SELECT kind, detail FROM alert_events WHERE alert_id = ? ORDER BY id", (second,))[0]
    assert reopened["kind"] == "reopened" and json.loads(reopened["detail"])["previous_alert_id"] == first


def test_same_source_on_two_integrations_makes_two_alerts(daemon: DaemonProcess, db: Db) -> None:
    """The dedup lookup of a live alert is per integration: the same alarm (source id) arriving on
    another integration opens its own alert, and closing one leaves the other open."""
    alarm = alarm_name()
    assert send_sample(daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=str(uuid.uuid4()), alarm=alarm)[1] == 200
    a = last_row(db)
    assert (a["integration"], a["outcome"]) == ("alarms", "Mapped Open")
    _, status = send_sample(
        daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=str(uuid.uuid4()), alarm=alarm, token=ALARMS_B_TOKEN
    )
    assert status == 200
    b = last_row(db)
    assert (b["integration"], b["outcome"]) == ("alarms_b", "Mapped Open")
    assert b["alert_id"] != a["alert_id"]
    _, status = send_sample(
        daemon, "sns-cloudwatch-alarm-OK.json", message_id=str(uuid.uuid4()), alarm=alarm, token=ALARMS_B_TOKEN
    )
    assert status == 200 and (last_row(db)["outcome"], last_row(db)["alert_id"]) == ("Mapped Closed", b["alert_id"])
    status_of = {r["id"]: r["status"] for r in db.alerts()}
    assert (status_of[a["alert_id"]], status_of[b["alert_id"]]) == ("open", "closed")
    # ... and the next repeat on the first integration appends to its own alert.
    send_sample(daemon, "sns-cloudwatch-alarm-ALARM-repeat.json", message_id=str(uuid.uuid4()), alarm=alarm)
    assert (last_row(db)["outcome"], last_row(db)["alert_id"]) == ("Mapped Appended", a["alert_id"])


def test_same_message_id_on_two_integrations_counts_on_each(daemon: DaemonProcess, db: Db) -> None:
    message_id = str(uuid.uuid4())
    send_sample(daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=message_id, alarm=alarm_name())
    assert last_row(db)["outcome"] == "Mapped Open"
    send_sample(
        daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=message_id, alarm=alarm_name(), token=ALARMS_B_TOKEN
    )
    assert last_row(db)["outcome"] == "Mapped Open"


def test_signature_version_2_and_eventbridge_ruleset(daemon: DaemonProcess, db: Db) -> None:
    message, _, _ = sample_message("sns-eventbridge-cloudtrail-consolelogin-failure.json")
    envelope = notification(message, version="2")
    response = post_envelope(daemon, envelope, token=EVENTS_TOKEN)
    assert response.status_code == 200
    row = last_row(db)
    assert (row["integration"], row["outcome"]) == ("events", "Mapped Open")
    alert = db.rows("SELECT * FROM alerts WHERE id = ?", (row["alert_id"],))[0]
    fields = json.loads(alert["fields"])
    assert fields["eventName"] == "ConsoleLogin" and fields["errorMessage"] == "Failed authentication"
    assert fields["sourceIPAddress"] == "203.0.113.7" and fields["userIdentity"] == "alice"
    assert alert["title"] == "ConsoleLogin by alice from 203.0.113.7: Failed authentication"


def test_subscription_confirmation_is_recorded_pending(daemon: DaemonProcess, db: Db) -> None:
    envelope = subscription_confirmation()
    assert post_envelope(daemon, envelope).status_code == 200
    row = last_row(db)
    assert (row["outcome"], row["message_type"]) == ("Subscription Confirmation", "SubscriptionConfirmation")
    subs = db.rows("SELECT * FROM source_handshakes WHERE integration = 'alarms'")
    assert subs[0]["state"] == "pending" and subs[0]["inbound_id"] == row["id"]
    assert subs[0]["key"] == envelope["TopicArn"]
    assert json.loads(subs[0]["detail"])["confirm_url"] == envelope["SubscribeURL"]
    listed = run_cli_in_process("integrations", "--json", "-c", str(daemon.config))
    assert listed.returncode == 0, listed.stderr
    alarms = next(i for i in json.loads(listed.stdout) if i["name"] == "alarms")
    assert alarms["url"] == f"{daemon.url}/in/{TOKEN}"
    assert alarms["handshakes"][0]["state"] == "pending"
    text = run_cli_in_process("integrations", "-c", str(daemon.config)).stdout
    assert f"    topic:      {envelope['TopicArn']}: pending (inbound #{row['id']})" in text


# --- bad input: the right status, a clear reason, a log row, no alert change -------------


def bad(
    daemon: DaemonProcess,
    db: Db,
    *,
    body: bytes,
    headers: dict,
    status: int,
    reason: str,
    token: str = TOKEN,
    method: str = "POST",
) -> dict:
    alerts_before = db.alerts()
    count = len(db.inbound())
    import httpx

    response = httpx.request(method, f"{daemon.url}/in/{token}", content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    # A 2xx says only OK (SNS ignores the body); a refusal says why.
    assert reason in response.text if status >= 400 else response.text == "OK\n"
    rows = db.inbound()
    assert len(rows) == count + 1
    row = rows[-1]
    assert row["status"] == status and reason in row["reason"]
    assert row["outcome"] == ("Unmapped" if status == 200 else "Rejected")
    assert db.alerts() == alerts_before
    return row


def bad_envelope(daemon: DaemonProcess, db: Db, envelope: dict, *, status: int, reason: str) -> dict:
    """``bad`` for an SNS envelope sent as SNS sends it."""
    return bad(
        daemon, db, body=json.dumps(envelope).encode(), headers=headers_for(envelope), status=status, reason=reason
    )


def alarm_envelope(**changes: object) -> dict:
    message, _, subject = sample_message("sns-cloudwatch-alarm-ALARM.json")
    return {**notification(message, subject=subject), **changes}


HDR = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


def test_non_json_body(daemon: DaemonProcess, db: Db) -> None:
    bad(daemon, db, body=b"hello", headers=HDR, status=400, reason="body is not JSON")


def test_json_of_the_wrong_shape(daemon: DaemonProcess, db: Db) -> None:
    bad(daemon, db, body=b"[1, 2]", headers=HDR, status=400, reason="not an object (found list)")


def test_missing_required_fields(daemon: DaemonProcess, db: Db) -> None:
    envelope = alarm_envelope()
    del envelope["Signature"], envelope["TopicArn"]
    bad(
        daemon,
        db,
        body=json.dumps(envelope).encode(),
        headers=HDR,
        status=400,
        reason="missing or non-string SNS field(s): TopicArn, Signature",
    )


def test_wrong_types(daemon: DaemonProcess, db: Db) -> None:
    envelope = alarm_envelope(MessageId=12)
    bad(
        daemon,
        db,
        body=json.dumps(envelope).encode(),
        headers=HDR,
        status=400,
        reason="missing or non-string SNS field(s): MessageId",
    )


def test_unknown_type(daemon: DaemonProcess, db: Db) -> None:
    envelope = alarm_envelope(Type="Telegram")
    bad(
        daemon,
        db,
        body=json.dumps(envelope).encode(),
        headers={"Content-Type": "text/plain"},
        status=400,
        reason="unknown SNS message Type 'Telegram'",
    )


def test_header_body_type_mismatch(daemon: DaemonProcess, db: Db) -> None:
    envelope = alarm_envelope()
    headers = {**headers_for(envelope), "x-amz-sns-message-type": "SubscriptionConfirmation"}
    bad(
        daemon,
        db,
        body=json.dumps(envelope).encode(),
        headers=headers,
        status=400,
        reason="header says 'SubscriptionConfirmation' but the body's Type is 'Notification'",
    )


def test_tampered_message_fails_the_signature(daemon: DaemonProcess, db: Db) -> None:
    envelope = alarm_envelope()
    envelope["Message"] = envelope["Message"].replace("ALARM", "OK")
    bad_envelope(daemon, db, envelope, status=403, reason="signature rejected")


def test_certificate_from_a_non_sns_host(daemon: DaemonProcess, db: Db) -> None:
    envelope = sign_message({**alarm_envelope(), "SigningCertURL": "https://evil.example.com/cert.pem"})
    bad_envelope(daemon, db, envelope, status=403, reason="signature rejected")


def test_certificate_from_another_region(daemon: DaemonProcess, db: Db) -> None:
    url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-alertdtest.pem"
    envelope = sign_message({**alarm_envelope(), "SigningCertURL": url})
    bad_envelope(daemon, db, envelope, status=403, reason="not on the SNS host of the topic's region")


def test_certificate_fetch_failure_is_retryable(daemon: DaemonProcess, db: Db) -> None:
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-notcached.pem"
    envelope = sign_message({**alarm_envelope(), "SigningCertURL": url})
    bad_envelope(daemon, db, envelope, status=503, reason="signing certificate unavailable")


def test_topic_not_allowed(daemon: DaemonProcess, db: Db) -> None:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    envelope = notification(message, topic="arn:aws:sns:us-east-1:123456789012:someone-elses")
    bad_envelope(daemon, db, envelope, status=403, reason="is not in this integration's topic_arns")


def test_stale_message_is_refused(daemon: DaemonProcess, db: Db) -> None:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    envelope = notification(message, timestamp="2020-01-01T00:00:00.000Z")
    bad_envelope(daemon, db, envelope, status=400, reason="older than max_age_hours")


def test_timestamp_in_the_future_is_refused(daemon: DaemonProcess, db: Db) -> None:
    from datetime import UTC, datetime, timedelta

    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    ahead = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    envelope = notification(message.replace(SAMPLE_ALARM, alarm_name()), timestamp=ahead)
    bad_envelope(daemon, db, envelope, status=400, reason="message Timestamp is in the future")
    # within the allowed clock skew it is accepted
    near = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    envelope = notification(message.replace(SAMPLE_ALARM, alarm_name()), timestamp=near)
    assert post_envelope(daemon, envelope).status_code == 200
    assert last_row(db)["outcome"] == "Mapped Open"


def test_a_message_just_inside_max_age_is_accepted(daemon: DaemonProcess, db: Db) -> None:
    from datetime import UTC, datetime, timedelta

    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    old = (datetime.now(UTC) - timedelta(hours=167)).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # max_age_hours = 168
    assert (
        post_envelope(daemon, notification(message.replace(SAMPLE_ALARM, alarm_name()), timestamp=old)).status_code
        == 200
    )
    assert last_row(db)["outcome"] == "Mapped Open"


@pytest.mark.parametrize("refusal", ["bad signature", "certificate unavailable"])
def test_a_refused_delivery_does_not_use_up_its_message_id(daemon: DaemonProcess, db: Db, refusal: str) -> None:
    """SNS retries what it did not get a 2xx for, with the same MessageId: the retry must count."""
    message_id = str(uuid.uuid4())
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    good = notification(message.replace(SAMPLE_ALARM, alarm_name()), message_id=message_id)
    if refusal == "bad signature":
        refused = {**good, "Message": good["Message"].replace("ALARM", "OK")}
        status, reason = 403, "signature rejected"
    else:
        url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-notcached.pem"
        refused = sign_message({**good, "SigningCertURL": url})
        status, reason = 503, "signing certificate unavailable"
    row = bad_envelope(daemon, db, refused, status=status, reason=reason)
    assert (row["source_message_id"], row["accepted"]) == (message_id, 0)
    assert post_envelope(daemon, good).status_code == 200
    retry = last_row(db)
    assert (retry["outcome"], retry["accepted"], retry["source_message_id"]) == ("Mapped Open", 1, message_id)


def test_body_over_the_size_limit(daemon: DaemonProcess, db: Db) -> None:
    envelope = notification("x" * 300_000)
    row = bad_envelope(daemon, db, envelope, status=413, reason="body larger than the limit of 294912 bytes")
    assert row["body_size"] > 294912 and len(row["body"]) <= 4096


def test_message_that_is_not_json(daemon: DaemonProcess, db: Db) -> None:
    envelope = notification("plain text, not an alarm")
    bad_envelope(
        daemon, db, envelope, status=200, reason="no open, close or acknowledge rule matched (Message is not JSON)"
    )


def test_unknown_token(daemon: DaemonProcess, db: Db) -> None:
    row = bad(daemon, db, body=b"{}", headers=HDR, status=404, reason="unknown integration token", token="x" * 32)
    assert row["integration"] is None
    assert "x" * 32 not in json.dumps(row, default=str)


def test_get_is_not_allowed(daemon: DaemonProcess, db: Db) -> None:
    bad(daemon, db, body=b"", headers={}, status=405, reason="method GET not allowed", method="GET")


def test_raw_delivery_refused_unless_allowed(daemon: DaemonProcess, db: Db) -> None:
    headers = {
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": str(uuid.uuid4()),
        "x-amz-sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms",
        "x-amz-sns-rawdelivery": "true",
    }
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    bad(
        daemon,
        db,
        body=message.encode(),
        headers=headers,
        status=403,
        reason="raw message delivery carries no signature",
    )


def test_inbound_log_cli(daemon: DaemonProcess, db: Db) -> None:
    bad(daemon, db, body=b"hello", headers=HDR, status=400, reason="body is not JSON")  # one Rejected row at least
    send_sample(daemon, "sns-cloudwatch-alarm-ALARM.json", message_id=str(uuid.uuid4()), alarm=alarm_name())
    rejected = run_cli_in_process("inbound-log", "--json", "--outcome", "Rejected", "-c", str(daemon.config))
    rows = json.loads(rejected.stdout)
    assert rows and all(r["outcome"] == "Rejected" for r in rows)
    listed = run_cli_in_process("inbound-log", "--integration", "alarms", "--since", "1h", "-c", str(daemon.config))
    assert listed.returncode == 0 and "alarms" in listed.stdout
    row_id = db.inbound()[-1]["id"]
    shown = run_cli_in_process("inbound-log", "show", str(row_id), "-c", str(daemon.config))
    assert shown.returncode == 0, shown.stderr
    assert "x-amz-sns-message-type: Notification" in shown.stdout
    assert '"Type": "Notification"' in shown.stdout


def test_dry_run_cli_touches_nothing(daemon: DaemonProcess, db: Db, tmp_path: Path) -> None:
    before = (db.inbound(), db.alerts())
    from helpers import SAMPLES

    result = run_cli_in_process(
        "test-integration",
        "alarms",
        str(SAMPLES / "sns-cloudwatch-alarm-OK.json"),
        "--assume",
        "open",
        "--json",
        "-c",
        str(daemon.config),
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "Mapped Closed"
    assert decision["fields"]["state"] == "ALARM -> OK"
    assert (db.inbound(), db.alerts()) == before


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
async def test_raw_delivery_when_allowed(tmp_path: Path) -> None:
    from helpers import write_config
    from sns_signing import seed_cert_cache

    seed_cert_cache(tmp_path / "certs")
    config = write_config(
        tmp_path,
        f"""
[inbound.aws_sns]
cert_cache_dir = "certs"
[integrations.raw]
type = "aws_sns"
token = "{TOKEN}"
[integrations.raw.options]
allow_raw_delivery = true
topic_arns = ["arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"]
""",
    )
    from helpers import SAMPLES

    sample = json.loads((SAMPLES / "raw-delivery-cloudwatch-alarm-ALARM.json").read_text())
    async with in_process(config) as daemon:  # mapping through HTTP, not the process: in-process
        response = await daemon.post(
            f"/in/{TOKEN}", content=json.dumps(sample["body"]).encode(), headers=sample["headers"]
        )
        assert response.status_code == 200
        db = Db(tmp_path / "alertd.db")
        row = db.inbound()[-1]
        assert (row["outcome"], row["source_message_id"]) == ("Mapped Open", sample["headers"]["x-amz-sns-message-id"])
        assert db.alerts()[-1]["source_id"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ConsoleSignInFailures"
        # Unsigned, so the topic header is all there is to check: another topic is refused.
        other = {
            **sample["headers"],
            "x-amz-sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:other",
            "x-amz-sns-message-id": str(uuid.uuid4()),
        }
        assert (
            await daemon.post(f"/in/{TOKEN}", content=json.dumps(sample["body"]).encode(), headers=other)
        ).status_code == 403


def test_seed_cert_command(tmp_path: Path) -> None:
    from helpers import write_config
    from sns_signing import make_test_ca_and_signing_cert

    config = write_config(tmp_path, '[inbound.aws_sns]\ncert_cache_dir = "certs"\n')
    pem = tmp_path / "cert.pem"
    pem.write_bytes(make_test_ca_and_signing_cert()[2])
    url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
    result = run_cli_in_process("sns", "seed-cert", url, str(pem), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "certs" / "sns.eu-west-1.amazonaws.com_SimpleNotificationService-abc.pem").exists()
    bad = run_cli_in_process("sns", "seed-cert", "https://evil.example.com/x.pem", str(pem), "-c", str(config))
    assert bad.returncode != 0 and "SigningCertURL" in bad.stderr


# SQLite only: it drops SQLite's unique indexes by hand (on PostgreSQL they are the cluster's dedup).
def test_dedup_is_the_applications_not_only_the_unique_indexes(tmp_path: Path) -> None:
    """The unique indexes are a safety net; without them an append still opens nothing and a
    redelivered MessageId is still a Duplicate Delivery (not an HTTP 500 from the index)."""
    import sqlite3

    with InProcessThread(sns_config(tmp_path)) as daemon:  # the app's decisions: in-process
        conn = sqlite3.connect(tmp_path / "alertd.db")
        conn.execute("DROP INDEX alerts_live_source")
        conn.execute("DROP INDEX inbound_log_delivery")
        conn.commit()
        conn.close()
        db = Db(tmp_path / "alertd.db")
        alarm = alarm_name()
        first, status = send_sample(daemon, "sns-cloudwatch-alarm-ALARM.json", message_id="m-1", alarm=alarm)
        assert status == 200 and last_row(db)["outcome"] == "Mapped Open"
        alert_id = last_row(db)["alert_id"]
        send_sample(daemon, "sns-cloudwatch-alarm-ALARM-repeat.json", message_id="m-2", alarm=alarm)
        assert (last_row(db)["outcome"], last_row(db)["alert_id"]) == ("Mapped Appended", alert_id)
        assert post_envelope(daemon, first).status_code == 200
        assert (last_row(db)["outcome"], last_row(db)["accepted"]) == ("Duplicate Delivery", 0)
        assert [a["id"] for a in db.alerts()] == [alert_id]
        assert len(db.rows("SELECT 1 FROM inbound_log WHERE accepted = 1")) == 2
