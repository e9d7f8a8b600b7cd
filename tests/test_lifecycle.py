"""The alert lifecycle on a real database: open -> acknowledged -> closed, appends and reopening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alertd import alerts
from alertd.mapping import Decision
from alertd.store.schema import migrate
from postgres import connect

# Each test on SQLite and on PostgreSQL (tests/postgres.py).
pytestmark = pytest.mark.usefixtures("each_backend")

T0 = 1_800_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = connect(tmp_path / "l.db")
    migrate(database)
    return database


def open_(db: Any, source: str = "s") -> int:
    with db.atomic():
        return alerts.open_alert(db, "i", None, Decision("open", "Mapped Open", source_id=source), None, T0)[0]


def test_acknowledge_once_then_repeats_are_recorded_not_applied(db: Any) -> None:
    alert_id = open_(db)
    with db.atomic():
        assert [e.kind for e in alerts.acknowledge(db, alert_id, "alice", "sms", T0 + 1)] == ["acknowledged"]
        assert [e.kind for e in alerts.acknowledge(db, alert_id, "bob", "link", T0 + 2)] == ["ack_repeated"]
    alert = alerts.get(db, alert_id)
    assert (alert["status"], alert["acknowledged_by"], alert["acknowledged_at"]) == ("acknowledged", "alice", T0 + 1)


def test_a_closed_alert_can_be_neither_acknowledged_nor_closed_again(db: Any) -> None:
    alert_id = open_(db)
    with db.atomic():
        alerts.close(db, alert_id, "alice", "cli", T0 + 1)
    with pytest.raises(alerts.AlertError, match="is closed"):
        alerts.acknowledge(db, alert_id, "bob", "cli", T0 + 2)
    with pytest.raises(alerts.AlertError, match="already closed"):
        alerts.close(db, alert_id, "bob", "cli", T0 + 2)
    alert = alerts.get(db, alert_id)
    assert (alert["status"], alert["closed_by"], alert["acknowledged_by"]) == ("closed", "alice", None)
    assert [e["kind"] for e in alerts.timeline(db, alert_id)] == ["opened", "closed"]


def test_appends_count_and_reopening_links_the_latest_closed_alert(db: Any) -> None:
    first = open_(db)
    for n in range(2):
        with db.atomic():
            alerts.append(db, first, "i", 100 + n, T0)
    assert alerts.get(db, first)["append_count"] == 2
    assert alerts.get(db, first)["last_inbound_id"] == 101
    with db.atomic():
        alerts.close(db, first, "x", "source", T0)
    second = open_(db)
    with db.atomic():
        alerts.close(db, second, "x", "source", T0)
    open_(db, "other")  # another source: not part of this chain
    third = open_(db)
    assert alerts.get(db, second)["previous_alert_id"] == first
    assert alerts.get(db, third)["previous_alert_id"] == second
    assert alerts.timeline(db, third)[0]["kind"] == "reopened"
    assert alerts.find_live(db, "i", "s").id == third  # type: ignore[union-attr]
    assert alerts.find_live(db, "j", "s") is None
