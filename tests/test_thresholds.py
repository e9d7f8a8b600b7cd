"""Thresholds in alertd (issue 13 item 4): counts per group in a sliding window, the alert at the
count-th match, appends after, close_after_quiet; the cloudtrail_signin_failures ruleset; restarts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from alertd import alerts
from alertd.config import ConfigError, load_config
from alertd.plugins import make_manager
from helpers import DaemonProcess, free_port, wait_until, write_config
from inbound_fixtures import Db
from inprocess import in_process
from sns_signing import headers_for, notification, sample_envelope, seed_cert_cache

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

TOKEN = "signin-failures-test-token-0123456789"
BOB = "arn:aws:iam::123456789012:user/bob"


def signin_event(user: str = "bob", ip: str = "203.0.113.7", *, failed: bool = True, arn: bool = True) -> dict:
    message = json.loads(sample_envelope("sns-eventbridge-cloudtrail-consolelogin-failure.json")[1]["Message"])
    detail = message["detail"]
    detail["userIdentity"]["userName"] = user
    if arn:
        detail["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    detail["sourceIPAddress"] = ip
    detail["eventID"] = str(uuid.uuid4())
    if not failed:
        del detail["errorMessage"]
        detail["responseElements"] = {"ConsoleLogin": "Success"}
    return message


def config(tmp_path: Path, rules: str = "") -> Path:
    seed_cert_cache(tmp_path / "certs")
    return write_config(
        tmp_path,
        f"""
[inbound.aws_sns]
cert_cache_dir = "certs"
[integrations.signins]
type = "aws_sns"
token = "{TOKEN}"
ruleset = "cloudtrail_signin_failures"
{rules}
""",
        port=free_port(),
    )


async def post(app, event: dict) -> str:
    envelope = notification(event)
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    return Db(app.config.parent / "alertd.db").inbound()[-1]["outcome"]


async def test_counts_open_append_and_close_after_quiet(tmp_path: Path) -> None:
    db = Db(tmp_path / "alertd.db")
    async with in_process(config(tmp_path)) as app:
        assert await post(app, signin_event()) == "Counted (1 of 3)"
        await app.advance(60)
        assert await post(app, signin_event()) == "Counted (2 of 3)"
        # Another user counts on their own; a successful sign-in does not match the rule at all.
        assert await post(app, signin_event("alice", arn=False)) == "Counted (1 of 3)"
        assert await post(app, signin_event(failed=False)) == "Unmapped"
        assert db.alerts() == []
        await app.advance(60)
        assert await post(app, signin_event(ip="198.51.100.9")) == "Mapped Open"
        [alert] = db.alerts()
        assert alert["title"] == f"3 failed console sign-ins for {BOB} from 198.51.100.9 within 5 min"
        assert alert["source_id"] == BOB
        assert json.loads(alert["fields"])["user"] == BOB
        assert await post(app, signin_event()) == "Mapped Appended"
        metrics = (await app.get("/metrics")).text
        assert 'alertd_inbound_messages_total{integration="signins",outcome="Counted"} ' in metrics
        assert "Counted (" not in metrics  # one series, not one per count
        # Alice's user has no arn in her events: the ruleset builds one from the account and name.
        assert db.rows("SELECT grp FROM threshold_counts") == [{"grp": "arn:aws:iam::123456789012:user/alice"}]

        # Quiet for 15 minutes after the last match: closed by the rule, on the timeline.
        await app.advance(14 * 60)
        assert await post(app, signin_event()) == "Mapped Appended"  # moves the quiet timer on
        await app.advance(14 * 60)
        assert db.alerts()[0]["status"] == "open"
        await app.advance(61)
        await app.wait_until(lambda: db.alerts()[0]["status"] == "closed", what="closed after quiet")
        closed = db.rows("SELECT actor, via, detail FROM alert_events WHERE kind = 'closed'")
        assert [{**row, "detail": json.loads(row["detail"])} for row in closed] == [
            {
                "actor": "signins",
                "via": "rule",
                "detail": {"reason": "no matching message for 15 min (close_after_quiet)"},
            }
        ]
        # After it closed, the count starts again; the old matches were pruned from the window.
        assert await post(app, signin_event()) == "Counted (1 of 3)"
        assert len(db.rows("SELECT * FROM threshold_counts")) == 1
        assert db.rows("SELECT * FROM quiet_timers") == []


async def test_the_window_slides(tmp_path: Path) -> None:
    async with in_process(
        config(tmp_path, '[integrations.signins.rules]\nthreshold = { count = 3, within = "5m" }')
    ) as app:
        assert await post(app, signin_event()) == "Counted (1 of 3)"
        await app.advance(200)
        assert await post(app, signin_event()) == "Counted (2 of 3)"
        await app.advance(101)  # the first match is now 301 s old: out of the window
        assert await post(app, signin_event()) == "Counted (2 of 3)"
        await app.advance(100)
        assert await post(app, signin_event()) == "Mapped Open"
        # Opening spends the group's matches: closed at once, the next failure counts from 1 again.
        [alert] = Db(tmp_path / "alertd.db").alerts()
        await app.runtime.store.write(lambda db: alerts.close(db, alert["id"], "alice", "cli", app.clock.now()))
        assert await post(app, signin_event()) == "Counted (1 of 3)"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('threshold = { count = 0, within = "5m" }', "threshold.count: expected a number >= 1"),
        ('threshold = { count = 3, within = "5 parsecs" }', "threshold.within: expected a duration like"),
        ('threshold = { count = 3, within = "8d" }', "threshold.within: expected a duration from 1 s to 7 d"),
        ('threshold = { count = 3, within = "5m", group_by = "{{ oops" }', "threshold.group_by: expected a template"),
        ('close_after_quiet = "-1m"', "close_after_quiet: expected a duration like"),
        ('close_after_quiet = "31d"', "close_after_quiet: expected a duration from 1 s to 30 d"),
    ],
)
def test_bad_threshold_settings(tmp_path: Path, rules: str, message: str) -> None:
    path = config(tmp_path, f"[integrations.signins.rules]\n{rules}")
    with pytest.raises(ConfigError) as caught:
        load_config(path, make_manager())
    assert f"integrations.signins.rules.{message}" in str(caught.value)


def test_counts_and_quiet_timers_survive_kill_9(tmp_path: Path) -> None:
    # 5 s of quiet: the kill below must come before it ends (the answer, a read, then the kill).
    path = config(tmp_path, '[integrations.signins.rules]\nclose_after_quiet = "5s"')
    db = Db(tmp_path / "alertd.db")
    daemon = DaemonProcess(path)

    def send(event: dict) -> str:
        envelope = notification(event)
        response = daemon.post(f"/in/{TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope))
        assert response.status_code == 200, response.text
        return db.inbound()[-1]["outcome"]

    try:
        daemon.start()
        assert send(signin_event()) == "Counted (1 of 3)"
        assert send(signin_event()) == "Counted (2 of 3)"
        daemon.kill()
        daemon.start()
        assert send(signin_event()) == "Mapped Open"
        daemon.kill()  # the quiet timer is a row: the next start closes the alert when it is due
        assert db.alerts()[0]["status"] == "open"
        daemon.start()
        wait_until(lambda: db.alerts()[0]["status"] == "closed", what="the alert closed after quiet")
    finally:
        daemon.kill()


def test_a_dry_run_says_the_daemon_counts(tmp_path: Path) -> None:
    from alertd.dryrun import dry_run

    loaded = load_config(config(tmp_path), make_manager())
    body = json.dumps(sample_envelope("sns-eventbridge-cloudtrail-consolelogin-failure.json")[1]).encode()
    out = dry_run(loaded.integrations["signins"], body)
    assert out["outcome"] == "Mapped Open"
    assert out["reason"].startswith("threshold: the daemon counts this match; the alert opens when 3 matches fall")
