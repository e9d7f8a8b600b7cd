"""Subscription confirmation: automatic, by CLI and by API, and never to a foreign host."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from fake_aws import FakeSNS, start_fake_sns
from helpers import DaemonProcess, run_cli, run_cli_in_process
from inbound_fixtures import Db, post_envelope, sns_config
from inprocess import InProcessThread
from sns_signing import DEFAULT_TOPIC, subscription_confirmation, unsubscribe_confirmation

AUTO_TOKEN = "auto-confirming-integration-token-0123"
API_TOKEN = "api-token-for-tests-0123456789"
CONFIRM_XML = (
    b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
    b"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn></ConfirmSubscriptionResult>"
    b"</ConfirmSubscriptionResponse>"
)

EXTRA = f"""
[integrations.auto]
type = "aws_sns"
token = "{AUTO_TOKEN}"
[integrations.auto.options]
topic_arns = ["{DEFAULT_TOPIC}"]
auto_confirm = true

[users.alice]
contact = {{ email = "alice@example.com" }}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, module_backend: str):
    tmp = tmp_path_factory.mktemp("subs")
    fake = start_fake_sns(tmp / "tls")
    config = sns_config(tmp, EXTRA, server=f'api_tokens = ["{API_TOKEN}"]')
    daemon = DaemonProcess(config, env=fake.env())
    with daemon:
        yield daemon, fake, Db(tmp / "alertd.db")
    fake.stop()


def confirm_route(fake: FakeSNS, envelope: dict) -> str:
    path = envelope["SubscribeURL"].split("amazonaws.com", 1)[1]
    arn = f"{envelope['TopicArn']}:{envelope['Token'][:8]}"
    fake.routes[path] = (200, {"Content-Type": "text/xml"}, CONFIRM_XML.replace(b"{arn}", arn.encode()))
    return path


def wait_state(db: Db, integration: str, state: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = db.rows("SELECT * FROM source_handshakes WHERE integration = ?", (integration,))
        if rows and rows[0]["state"] == state:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"subscription of {integration} never became {state}: {rows}")


def test_auto_confirm_fetches_the_subscribe_url(env) -> None:
    daemon, fake, db = env
    envelope = subscription_confirmation()
    path = confirm_route(fake, envelope)
    assert post_envelope(daemon, envelope, token=AUTO_TOKEN).status_code == 200
    row = wait_state(db, "auto", "confirmed")
    assert json.loads(row["detail"])["subscription_arn"].startswith(DEFAULT_TOPIC)
    assert ("sns.us-east-1.amazonaws.com", path) in fake.requests
    listed = json.loads(run_cli_in_process("integrations", "--json", "-c", str(daemon.config)).stdout)
    assert next(i for i in listed if i["name"] == "auto")["handshakes"][0]["state"] == "confirmed"


def test_auto_confirm_never_fetches_a_foreign_host(env) -> None:
    daemon, fake, db = env
    before = list(fake.connects)
    for url in (
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
        "https://169.254.169.254/latest/meta-data/",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
    ):
        envelope = subscription_confirmation(subscribe_url=url)
        mark = len(daemon.lines)
        assert post_envelope(daemon, envelope, token=AUTO_TOKEN).status_code == 200
        line = daemon.wait_for("event=sns.confirm_failed", start=mark)
        assert "refusing to fetch SubscribeURL" in line
    assert fake.connects == before
    row = db.rows("SELECT * FROM source_handshakes WHERE integration = 'auto'")[0]
    assert row["state"] == "pending" and "refusing" in json.loads(row["detail"])["error"]


def test_manual_confirm_by_cli_and_api(env) -> None:
    daemon, fake, db = env
    envelope = subscription_confirmation()
    confirm_route(fake, envelope)
    assert post_envelope(daemon, envelope).status_code == 200  # integration "alarms": no auto_confirm
    inbound_id = db.inbound()[-1]["id"]
    assert wait_state(db, "alarms", "pending")["inbound_id"] == inbound_id
    result = run_cli("sns", "confirm", str(inbound_id), "-c", str(daemon.config), env=fake.env())
    assert result.returncode == 0, result.stderr
    assert "confirmed arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms" in result.stdout
    wait_state(db, "alarms", "confirmed")

    # Unsubscribed, then confirmed again through the API.
    assert post_envelope(daemon, unsubscribe_confirmation()).status_code == 200
    assert db.inbound()[-1]["outcome"] == "Unsubscribe Confirmation"
    wait_state(db, "alarms", "unsubscribed")
    again = subscription_confirmation()
    confirm_route(fake, again)
    assert post_envelope(daemon, again).status_code == 200
    inbound_id = db.inbound()[-1]["id"]
    url = f"{daemon.url}/api/v1/sns/confirm/{inbound_id}"
    assert httpx.post(url, timeout=10).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer wrong-token-0000000"}, timeout=10).status_code == 401
    response = httpx.post(url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "confirmed"
    wait_state(db, "alarms", "confirmed")


def test_confirm_refuses_a_row_that_is_not_a_confirmation(env, tmp_path: Path) -> None:
    daemon, _fake, db = env
    # A row of its own (the test runs alone, or on any worker): a body that is not an SNS message.
    assert daemon.post(f"/in/{AUTO_TOKEN}", content=b"not an SNS message").status_code == 400
    row_id = db.rows("SELECT id FROM inbound_log WHERE outcome = 'Rejected' ORDER BY id DESC LIMIT 1")[0]["id"]
    result = run_cli_in_process("sns", "confirm", str(row_id), "-c", str(daemon.config))
    # The project's rule for a refused request, also for a plugin's command: one line, exit 2.
    assert result.returncode == 2, result.stderr
    assert "is not an accepted SubscriptionConfirmation" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_api_inbound_log_and_dry_run(env) -> None:
    daemon, _fake, db = env
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    rows = httpx.get(f"{daemon.url}/api/v1/inbound?integration=alarms&limit=5", headers=auth, timeout=10).json()
    assert rows and all(r["integration"] == "alarms" for r in rows) and len(rows) <= 5
    one = httpx.get(f"{daemon.url}/api/v1/inbound/{rows[0]['id']}", headers=auth, timeout=10).json()
    assert one["headers"]["x-amz-sns-message-type"] and json.loads(one["body"])["Type"]
    assert httpx.get(f"{daemon.url}/api/v1/inbound/999999", headers=auth, timeout=10).status_code == 404
    from helpers import SAMPLES

    before = db.inbound()
    sample = (SAMPLES / "sns-cloudwatch-alarm-ALARM.json").read_bytes()
    result = httpx.post(
        f"{daemon.url}/api/v1/integrations/alarms/test", content=sample, headers=auth, timeout=10
    ).json()
    assert result["outcome"] == "Mapped Open" and result["fields"]["alarm"] == "ConsoleSignInFailures"
    repeat = httpx.post(
        f"{daemon.url}/api/v1/integrations/alarms/test?assume=open", content=sample, headers=auth, timeout=10
    ).json()
    assert repeat["outcome"] == "Mapped Appended"
    assert (
        httpx.post(f"{daemon.url}/api/v1/integrations/nope/test", content=sample, headers=auth, timeout=10).status_code
        == 404
    )
    assert db.inbound() == before


def test_retention_prunes_old_rows_at_start(tmp_path: Path) -> None:
    import sqlite3

    config = sns_config(tmp_path, "")
    config.write_text(config.read_text().replace("[store]\n", "[store]\ninbound_retention_days = 1\n"))
    assert run_cli_in_process("alerts", "-c", str(config)).returncode == 0  # creates the database
    conn = sqlite3.connect(tmp_path / "alertd.db")
    for age_days in (0, 0.5, 2, 40):
        conn.execute(
            "INSERT INTO inbound_log (received_at, method, headers, body, body_size, outcome, status) "
            "VALUES (?, 'POST', '{}', x'', 0, 'Rejected', 400)",
            (time.time() - age_days * 86400,),
        )
    conn.commit()
    conn.close()
    with InProcessThread(config):  # the daemon's start (tests/inprocess.py) prunes before it serves
        pass
    conn = sqlite3.connect(tmp_path / "alertd.db")
    assert conn.execute("SELECT COUNT(*) FROM inbound_log").fetchone()[0] == 2


def test_api_alerts_list_show_ack_close(env) -> None:
    from inbound_fixtures import sample_message
    from sns_signing import notification

    daemon, _fake, db = env
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    message = message.replace("ConsoleSignInFailures", "ApiAlarm")
    assert post_envelope(daemon, notification(message)).status_code == 200
    alert_id = db.inbound()[-1]["alert_id"]
    listed = httpx.get(f"{daemon.url}/api/v1/alerts?status=open", headers=auth, timeout=10).json()
    assert alert_id in [a["id"] for a in listed]
    assert httpx.get(f"{daemon.url}/api/v1/alerts?status=bogus", headers=auth, timeout=10).status_code == 400
    acked = httpx.post(f"{daemon.url}/api/v1/alerts/{alert_id}/ack", json={"user": "alice"}, headers=auth, timeout=10)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    closed = httpx.post(f"{daemon.url}/api/v1/alerts/{alert_id}/close", headers=auth, timeout=10)
    assert closed.status_code == 200 and closed.json()["closed_by"] == "api:token-1"
    again = httpx.post(f"{daemon.url}/api/v1/alerts/{alert_id}/close", headers=auth, timeout=10)
    assert again.status_code == 409 and "already closed" in again.json()["error"]
    shown = httpx.get(f"{daemon.url}/api/v1/alerts/{alert_id}", headers=auth, timeout=10).json()
    assert [(e["kind"], e["actor"], e["via"]) for e in shown["timeline"]] == [
        ("opened", "alarms", "source"),
        ("acknowledged", "alice", "api"),
        ("closed", "api:token-1", "api"),
    ]
    assert httpx.post(f"{daemon.url}/api/v1/alerts/999999/ack", headers=auth, timeout=10).status_code == 404
    cli = run_cli_in_process("alerts", "--status", "closed", "-c", str(daemon.config))
    assert re.search(rf"^#{alert_id}\s+closed\s", cli.stdout, re.MULTILINE), cli.stdout
