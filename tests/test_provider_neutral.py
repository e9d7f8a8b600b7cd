"""The core knows no provider (issue 10, item 4): a third-party ``beeper`` channel in ``plugins_dir``
reports its provider's delivery reports as neutral states and declares that it sends no closure
notices, and the daemon acts on both with no core edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from channel_fixtures import HttpPeer
from helpers import ROOT, wait_until
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

PLUGINS_DIR = ROOT / "tests" / "plugins_dir"
API_TOKEN = "provider-neutral-api-token-0123456789abcdef"

SAM = """
[users.sam]
contact = {{ beep = "pager-7", slack = "@sam" }}
notify = [{{ method = "beep" }}, {{ method = "slack", after_minutes = {slack_after} }}]

[escalation_policies.pager]
[[escalation_policies.pager.levels]]
users = ["sam"]

[channels.beeper]
url = "{beeper}/beep"

[channels.slack]
webhook_url = "{slack}/hook"
"""


def pager_config(tmp_path: Path, beeper: HttpPeer, slack: HttpPeer, slack_after: int) -> Path:
    extra = SAM.format(beeper=beeper.url, slack=slack.url, slack_after=slack_after)
    config = sns_config(
        tmp_path,
        extra,
        server=f'api_tokens = ["{API_TOKEN}"]',
        alarms='escalation_policy = "pager"\nnotify_on_close = true',
    )
    config.write_text(f'plugins_dir = "{PLUGINS_DIR}"\n' + config.read_text())
    return config


def beep_row(db: Db, alert_id: int, status: str) -> list[dict]:
    return db.rows(
        "SELECT id, status, provider_id, last_error FROM outbox WHERE alert_id = ? AND kind = 'beep' AND status = ?",
        (alert_id, status),
    )


def report(daemon: InProcessThread, provider_id: str, word: str) -> int:
    response = daemon.post(
        "/beeper/status",
        json={"id": provider_id, "status": word},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    return response.status_code


def open_alarm(daemon: InProcessThread, db: Db) -> int:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    assert post_envelope(daemon, notification(message)).status_code == 200
    return db.alerts()[-1]["id"]


def test_a_delivered_report_settles_the_row_and_no_closure_notice_beeps(tmp_path: Path) -> None:
    with HttpPeer() as beeper, HttpPeer() as slack:
        db = Db(tmp_path / "alertd.db")
        with InProcessThread(pager_config(tmp_path, beeper, slack, slack_after=0)) as daemon:
            alert_id = open_alarm(daemon, db)
            (sent,) = wait_until(lambda: beep_row(db, alert_id, "sent"), what="the beep sent")
            assert sent["provider_id"] == f"beep-{sent['id']}"
            wait_until(lambda: slack.requests, what="the slack page")
            # Not final yet: the provider's "paging" is accepted, and nothing changes.
            assert report(daemon, sent["provider_id"], "paging") == 204
            assert beep_row(db, alert_id, "sent")
            assert report(daemon, sent["provider_id"], "heard") == 204
            wait_until(lambda: beep_row(db, alert_id, "delivered"), what="the beep row delivered")

            ok_message, _, _ = sample_message("sns-cloudwatch-alarm-OK.json")
            assert post_envelope(daemon, notification(ok_message)).status_code == 200
            # The closure notice goes by slack, which reached sam too, but never by beeper.
            resolved = wait_until(
                lambda: [r for r in slack.requests if r.json()["text"].startswith("[RESOLVED]")],
                what="the closure notice by slack",
            )
            assert f"#{alert_id}" in resolved[0].json()["text"]
            closed = db.rows("SELECT kind FROM outbox WHERE alert_id = ? AND purpose = 'closed'", (alert_id,))
            assert closed == [{"kind": "slack"}]
            assert len(beeper.requests) == 1


def test_an_unanswered_report_fails_over_to_the_next_method(tmp_path: Path) -> None:
    with HttpPeer() as beeper, HttpPeer() as slack:
        db = Db(tmp_path / "alertd.db")
        with InProcessThread(pager_config(tmp_path, beeper, slack, slack_after=30)) as daemon:
            alert_id = open_alarm(daemon, db)
            (sent,) = wait_until(lambda: beep_row(db, alert_id, "sent"), what="the beep sent")
            assert not slack.requests  # slack is 30 minutes later
            assert report(daemon, sent["provider_id"], "ignored") == 204
            (failed,) = wait_until(lambda: beep_row(db, alert_id, "failed"), what="the beep row failed")
            assert failed["last_error"] == "Beeper reported ignored"
            # Unanswered is a failure: sam is tried on slack now, not in 30 minutes.
            wait_until(lambda: slack.requests, what="the failover to slack")
            kinds = [
                (e["kind"], e["via"])
                for e in db.rows("SELECT kind, via FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))
            ]
            assert ("notification_failed", "beeper") in kinds
            assert any(kind == "notification_failover" for kind, _ in kinds)


def test_the_core_holds_no_providers_status_words() -> None:
    # Twilio's words live in its plugin's table; the core sees only DeliveryState.
    from alertd.channels import DeliveryState
    from alertd_twilio.channels import delivery_state

    assert delivery_state("no-answer") is DeliveryState.UNANSWERED
    assert delivery_state("undelivered") is DeliveryState.FAILED
    assert delivery_state("ringing") is DeliveryState.ACCEPTED
    words = ("no-answer", "undelivered", '"completed"', '"busy":', '"read"')
    found = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in (ROOT / "src" / "alertd").rglob("*.py")
        for word in words
        if word in path.read_text()
    ]
    assert found == []
