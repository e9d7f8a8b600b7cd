"""The in-process harness itself: the app answers through ASGI, and the fake clock drives
escalation steps an hour apart without waiting for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import in_process
from sns_signing import headers_for, notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

HOURLY = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[channels.recorder]
path = "{{sent}}"

[users.alice]
contact = {{ email = "alice@example.com" }}
[users.bob]
contact = {{ email = "bob@example.com" }}

[escalation_policies.hourly]
[[escalation_policies.hourly.levels]]
users = ["alice"]
delay_minutes = 60
[[escalation_policies.hourly.levels]]
users = ["bob"]
"""


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_health_and_an_hour_long_escalation_step_in_milliseconds(tmp_path: Path) -> None:
    sent = tmp_path / "sent.jsonl"
    config = sns_config(tmp_path, "", alarms='escalation_policy = "hourly"')
    config.write_text(HOURLY.replace("{sent}", str(sent)) + config.read_text())
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        assert (await app.get("/readyz")).text == "ready\n"
        message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
        envelope = notification(message)
        response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
        assert response.status_code == 200
        assert db.inbound()[-1]["outcome"] == "Mapped Open"
        await app.wait_until(lambda: len(sends(sent)) == 1, what="level 0 (alice)")
        assert sends(sent)[0]["user"] == "alice"
        assert (await app.get("/readyz")).status_code == 200  # level 1 is an hour away: nothing more yet
        assert len(sends(sent)) == 1
        # The peer has the page before the daemon has recorded its answer: a row still 'sending'
        # when the clock jumps an hour looks lost (3 send timeouts) and is sent again, in doubt.
        unsettled = "SELECT 1 FROM outbox WHERE status IN ('pending', 'sending')"
        await app.wait_until(lambda: not db.rows(unsettled), what="alice's page recorded")
        await app.advance(3600)
        await app.wait_until(lambda: len(sends(sent)) == 2, timeout=10, what="level 1 (bob) after the clock moved")
        assert sends(sent)[1]["user"] == "bob"
