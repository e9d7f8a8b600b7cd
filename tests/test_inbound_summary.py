"""Accepted inbound messages are logged as one summary line per integration and second
(alertd.inbound_summary), not a line each; rejections keep a line each; debug brings the
per-message line back."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from alertd.log import LogfmtFormatter
from inbound_fixtures import TOKEN, sns_config
from inbound_fixtures import alarm_notification as alarm
from inprocess import InProcess, in_process
from sns_signing import headers_for


async def deliver(app: InProcess, envelope: dict[str, Any], status: int = 200) -> None:
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == status, response.text


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    formatter = LogfmtFormatter(with_time=False)
    return [formatter.format(r) for r in caplog.records if r.getMessage() == event]


async def test_accepted_messages_get_one_summary_line_and_rejections_one_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with in_process(sns_config(tmp_path)) as app:
        await deliver(app, alarm("disk"))
        await deliver(app, alarm("disk"))
        await deliver(app, alarm("cpu"))
        forged = alarm("mem")
        forged["Message"] = forged["Message"].replace("mem", "MEM")
        await deliver(app, forged, status=403)
        # The rejection is logged at once, on its own line.
        [rejected] = lines(caplog, "inbound.rejected")
        assert "status=403" in rejected and "signature" in rejected
        # The accepted ones: one line for the three, within about a second.
        await app.wait_until(lambda: lines(caplog, "inbound.accepted"), what="the summary line")
        [summary] = lines(caplog, "inbound.accepted")
        assert summary == (
            "level=info logger=alertd.inbound event=inbound.accepted integration=alarms count=3"
            ' first_inbound_id=1 last_inbound_id=3 outcomes="Mapped Appended: 1, Mapped Open: 2"'
        )
        assert lines(caplog, "inbound.recorded") == []  # no line per message at info
        await deliver(app, alarm("cpu", "OK"))
    # Stopping the daemon writes what was counted since the last line.
    assert lines(caplog, "inbound.accepted")[1].endswith(
        'count=1 first_inbound_id=5 last_inbound_id=5 outcomes="Mapped Closed: 1"'
    )


async def test_debug_level_logs_each_accepted_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # On the logger itself: a test before this one in the worker may have set "alertd"'s level.
    caplog.set_level(logging.DEBUG, logger="alertd.inbound")
    async with in_process(sns_config(tmp_path)) as app:
        await deliver(app, alarm("disk"))
        await deliver(app, alarm("disk"))
        recorded = lines(caplog, "inbound.recorded")
        assert len(recorded) == 2
        assert 'inbound_id=1 integration=alarms outcome="Mapped Open" alert_id=1' in recorded[0]
        assert 'inbound_id=2 integration=alarms outcome="Mapped Appended" alert_id=1' in recorded[1]
