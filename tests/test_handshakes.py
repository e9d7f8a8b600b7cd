"""Inbound types own their handshake state (issue 10, item 4): a third-party ``knock`` inbound type
in ``plugins_dir`` records its sources' handshakes, keeps its own headers and shows its state in
``alertd integrations``, with no core edit; SNS subscriptions of an older database move over."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from alertd import handshakes
from alertd.store.schema import MIGRATIONS, migrate
from helpers import ROOT, run_cli_in_process, write_config
from inbound_fixtures import Db
from inprocess import in_process
from postgres import connect

KNOCK_TOKEN = "knock-integration-token-0123456789abcdef"

KNOCK = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[integrations.front]
type = "knock"
token = "{KNOCK_TOKEN}"
"""


def knock_config(tmp_path: Path) -> Path:
    config = write_config(tmp_path, "")
    config.write_text(KNOCK + config.read_text())
    return config


async def test_a_plugin_inbound_type_records_and_shows_its_handshakes(tmp_path: Path) -> None:
    config = knock_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        response = await app.post(
            f"/in/{KNOCK_TOKEN}",
            json={"knock": "back-door", "state": "ajar", "said": "hello"},
            headers={"x-knock-source": "garden", "x-secret": "hunter2"},
        )
        assert (response.status_code, response.text) == (200, "come in\n")
        row = db.inbound()[-1]
        assert (row["outcome"], row["message_type"], row["alert_id"]) == ("Knock", "Knock", None)
        headers = json.loads(row["headers"])
        assert headers["x-knock-source"] == "garden" and headers["x-secret"] == "<not stored>"
        # Again, shut: the same key changes state, the announcing row moves on.
        assert (await app.post(f"/in/{KNOCK_TOKEN}", json={"knock": "back-door", "state": "shut"})).status_code == 200
        second = db.inbound()[-1]["id"]
        listed = await app.off_loop(run_cli_in_process, "integrations", "-c", str(config))
        assert listed.returncode == 0, listed.stderr
        assert f"    door:       back-door is shut, said 'hello' (knocked at inbound #{second})" in listed.stdout
        data = json.loads((await app.off_loop(run_cli_in_process, "integrations", "--json", "-c", str(config))).stdout)
        (front,) = data
        (shake,) = front["handshakes"]
        assert (shake["key"], shake["state"], shake["inbound_id"], shake["label"]) == (
            "back-door",
            "shut",
            second,
            "door",
        )
        # An ordinary message of the same type still goes to the mapper.
        alert = {"id": "disk", "state": "firing", "door": "back-door"}
        assert (await app.post(f"/in/{KNOCK_TOKEN}", json=alert)).status_code == 200
        row = db.inbound()[-1]
        assert row["outcome"] == "Mapped Open"
        # ... and a handshake it announces is recorded with it, in the same transaction.
        (shake,) = db.rows("SELECT * FROM source_handshakes")
        assert (shake["state"], shake["inbound_id"]) == ("in use", row["id"])


async def test_a_handshake_out_of_bounds_is_a_400_with_a_log_row(tmp_path: Path) -> None:
    config = knock_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        response = await app.post(f"/in/{KNOCK_TOKEN}", json={"knock": "x" * 5000})
        assert response.status_code == 400
        assert "handshake not acceptable: key must be a string of 1 to 1024 characters" in response.text
        row = db.inbound()[-1]
        assert (row["outcome"], row["status"]) == ("Rejected", 400) and "key must be" in row["reason"]
        assert db.rows("SELECT * FROM source_handshakes") == []


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_record_merges_detail_and_refuses_out_of_bounds(tmp_path: Path) -> None:
    db = connect(tmp_path / "h.db")
    migrate(db)
    handshakes.record(db, "i", "t", "pending", 1.0, inbound_id=7, error="refused", via="api")
    handshakes.record(db, "i", "t", "confirmed", 2.0, error=None, arn="a")
    (row,) = handshakes.by_integration(db)["i"]
    assert (row.state, row.inbound_id, row.updated_at) == ("confirmed", 7, 2.0)
    assert row.detail == {"via": "api", "arn": "a"}
    for key, state, detail in (("", "s", {}), ("k", "s" * 65, {}), ("k", "s", {"big": "x" * 20_000})):
        with pytest.raises(handshakes.HandshakeError):
            handshakes.record(db, "i", key, state, 3.0, **detail)


def test_sns_subscriptions_of_an_older_database_become_handshakes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    step = next(i for i, (_, fn) in enumerate(MIGRATIONS) if fn.__name__ == "_v11_source_handshakes")
    migrate(db, target=step)  # the schema just before handshakes moved out of the core
    db.execute(
        "INSERT INTO subscriptions (integration, topic, state, confirm_url, inbound_id, updated_at, confirmed_at, "
        "detail) VALUES ('alarms', 'arn:t1', 'confirmed', 'https://sns/c1', 3, 10.0, 9.0, ?)",
        [json.dumps({"subscription_arn": "arn:t1:x", "via": "cli"})],
    )
    db.execute(
        "INSERT INTO subscriptions (integration, topic, state, confirm_url, inbound_id, updated_at) "
        "VALUES ('alarms', 'arn:t2', 'pending', 'https://sns/c2', 4, 11.0)"
    )
    db.conn.commit()
    migrate(db)
    rows = handshakes.by_integration(db)["alarms"]
    assert [(r.key, r.state, r.inbound_id, r.updated_at) for r in rows] == [
        ("arn:t1", "confirmed", 3, 10.0),
        ("arn:t2", "pending", 4, 11.0),
    ]
    assert rows[0].detail == {
        "subscription_arn": "arn:t1:x",
        "via": "cli",
        "confirm_url": "https://sns/c1",
        "confirmed_at": 9.0,
    }
    assert rows[1].detail == {"confirm_url": "https://sns/c2"}
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "subscriptions" not in tables
