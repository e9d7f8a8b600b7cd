"""Statements per inbound message's write job (issue 15): each statement of the writer hands the GIL
back and waits to take it again while the event loop is busy, so the job runs as few as it can.
Counted per outcome on both backends, with what each job must still have written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alertd import receive
from inbound_fixtures import TOKEN, Db, alarm_notification, sns_config
from inprocess import in_process
from sns_signing import headers_for

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


class Counting:
    """The writer's Database, its statements counted."""

    def __init__(self, db: Any, counts: list[int]) -> None:
        self._db, self._counts = db, counts

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self._counts[-1] += 1
        return self._db.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_statements_per_write_job_by_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = []
    record_message = receive.record_message

    def counted(db: Any, *args: Any, **kw: Any) -> Any:
        counts.append(0)
        return record_message(Counting(db, counts), *args, **kw)

    monkeypatch.setattr(receive, "record_message", counted)
    db = Db(tmp_path / "alertd.db")
    async with in_process(sns_config(tmp_path)) as app:

        async def post(envelope: dict) -> tuple[str, int]:
            counts.clear()
            response = await app.post(
                f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
            )
            assert response.status_code == 200, response.text
            assert len(counts) == 1, counts  # one write job (no second evaluation)
            return db.inbound()[-1]["outcome"], counts[0]

        first = alarm_notification("Statements")
        # the redelivery check with the dedup lookup, the inbound-log row, the alert, its 'opened' event
        assert await post(first) == ("Mapped Open", 4)
        opened = db.inbound()[-1]
        alert_id = opened["alert_id"]  # set by the alert's insert (trigger inbound_log_opened_alert)
        assert alert_id is not None and db.alerts()[-1]["first_inbound_id"] == opened["id"]
        # the lookup, the row, the alert's count, its 'appended' event
        assert await post(alarm_notification("Statements")) == ("Mapped Appended", 4)
        # the lookup, the row, the alert (one conditional UPDATE), 'closed', the plan and the outbox stopped
        assert await post(alarm_notification("Statements", "OK")) == ("Mapped Closed", 6)
        # a redelivery: the one lookup and its row
        assert await post(first) == ("Duplicate Delivery", 2)
        assert db.inbound()[-1]["alert_id"] == alert_id
        # a recovery of a closed alarm: nothing to close
        assert await post(alarm_notification("Statements", "OK")) == ("Unmapped", 2)
        events = db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))
        assert [e["kind"] for e in events] == ["opened", "appended", "closed"]
        alert = db.alerts()[-1]
        assert (alert["status"], alert["append_count"], alert["closed_by"]) == ("closed", 1, "alarms")
