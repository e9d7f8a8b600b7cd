"""Events issue 10 had not emitted yet, in-process: a notification retry scheduled, a provider's
delivered report, and an escalation that ran out with nobody acknowledging. Each is an
``alert_events`` row written with its change, and plugins hear it through the dispatcher."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from channel_fixtures import HttpPeer, Reply
from helpers import ROOT
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import in_process
from sns_signing import headers_for, notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "event-kinds-api-token-0123456789abcdef"

PAGER = """
plugins_dir = "{plugins}"

[channels.beeper]
url = "{beeper}/beep"

[users.sam]
contact = {{ beep = "pager-7" }}

[escalation_policies.once]
[[escalation_policies.once.levels]]
users = ["sam"]
"""


def pager_config(tmp_path: Path, beeper: HttpPeer) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "tests" / "plugins_dir" / "beeper.py", plugins)
    shutil.copy(ROOT / "tests" / "event_plugins" / "event_log.py", plugins)
    config = sns_config(tmp_path, "", server=f'api_tokens = ["{API_TOKEN}"]', alarms='escalation_policy = "once"')
    config.write_text(PAGER.format(plugins=plugins, beeper=beeper.url) + config.read_text())
    return config


def kinds(db: Db, alert_id: int) -> list[str]:
    return [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))]


def detail(db: Db, alert_id: int, kind: str) -> dict:
    row = db.rows("SELECT detail FROM alert_events WHERE alert_id = ? AND kind = ?", (alert_id, kind))[0]
    return json.loads(row["detail"])


async def test_retry_delivered_and_exhausted_are_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    heard_path = tmp_path / "heard.jsonl"
    monkeypatch.setenv("ALERTD_TEST_EVENT_LOG", str(heard_path))
    with HttpPeer() as beeper:
        beeper.reply = Reply(status=503)
        config = pager_config(tmp_path, beeper)
        db = Db(tmp_path / "alertd.db")
        async with in_process(config) as app:
            message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
            envelope = notification(message)
            response = await app.post(
                f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
            )
            assert response.status_code == 200
            alert_id = db.alerts()[-1]["id"]
            # One level, no repeat: the plan is done when it fires, with nobody having acknowledged.
            await app.wait_until(lambda: "escalation_exhausted" in kinds(db, alert_id), what="escalation_exhausted")
            assert detail(db, alert_id, "escalation_exhausted") == {"policy": "once", "passes": 1}
            # The provider answers 503: a retry is scheduled, and said so.
            await app.wait_until(lambda: "notification_retry_scheduled" in kinds(db, alert_id), what="the retry")
            retry = detail(db, alert_id, "notification_retry_scheduled")
            assert (retry["kind"], retry["attempt"]) == ("beep", 1) and "503" in retry["error"]
            (row,) = db.rows("SELECT * FROM outbox WHERE alert_id = ?", (alert_id,))
            assert row["next_attempt_at"] == pytest.approx(retry["next_attempt_at"])
            # Now it takes the page; later the provider reports it delivered.
            beeper.reply = Reply(status=200)
            await app.advance(3600)
            await app.wait_until(lambda: "notified" in kinds(db, alert_id), what="the page sent")
            assert "notification_delivered" not in kinds(db, alert_id)
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            report = {"id": f"beep-{row['id']}", "status": "heard"}
            assert (await app.post("/beeper/status", json=report, headers=auth)).status_code == 204
            assert detail(db, alert_id, "notification_delivered") == {
                "kind": "beep",
                "notification": row["id"],
                "purpose": "alert",
            }
            # A repeated report changes nothing and says nothing twice.
            assert (await app.post("/beeper/status", json=report, headers=auth)).status_code == 204
            assert kinds(db, alert_id).count("notification_delivered") == 1
            wanted = {"escalation_exhausted", "notification_retry_scheduled", "notification_delivered"}

            def plugin_heard() -> set[str]:
                lines = heard_path.read_text().splitlines() if heard_path.exists() else []
                return {json.loads(line)["kind"] for line in lines} & wanted

            await app.wait_until(lambda: plugin_heard() == wanted, what="the plugin hearing all three")
