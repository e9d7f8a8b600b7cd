"""Heartbeats: a missed ping opens an alert that pages, the next ping closes it; in-process on the
fake clock, and across a SIGKILL and restart of the real daemon."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from alertd.config import ConfigError, build_config
from helpers import ROOT, DaemonProcess, run_cli_in_process, wait_until, write_config
from inbound_fixtures import Db
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

TOKEN = "heartbeat-test-token-0123456789abcdef"


def beat_config(tmp_path: Path, interval: float = 5, grace: float = 1, extra: str = "") -> tuple[Path, Path, Db]:
    sent = tmp_path / "sent.jsonl"
    config = write_config(
        tmp_path,
        f"""
[channels.recorder]
path = "{sent}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]

[heartbeats.nightly-backup]
interval_minutes = {interval}
grace_minutes = {grace}
escalation_policy = "ops"
token = "{TOKEN}"
timezone = "Europe/Berlin"
notify_on_close = true
{extra}
""",
    )
    # A top-level key: before the tables.
    config.write_text(f'plugins_dir = "{ROOT / "tests" / "plugins_dir"}"\n' + config.read_text())
    return config, sent, Db(tmp_path / "alertd.db")


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def heartbeat_alerts(db: Db) -> list[dict]:
    return db.rows("SELECT * FROM alerts WHERE integration = 'heartbeat:nightly-backup' ORDER BY id")


async def test_a_missed_ping_opens_an_alert_that_pages_and_the_next_ping_closes_it(tmp_path: Path) -> None:
    config, sent, db = beat_config(tmp_path)
    async with in_process(config) as app:
        assert (await app.get(f"/hb/{TOKEN}")).status_code == 200
        pinged = db.rows("SELECT last_ping_at FROM heartbeats")[0]["last_ping_at"]
        await app.advance(5 * 60)  # within interval + grace: nothing
        await app.wait_until(
            lambda: db.rows("SELECT due_at FROM heartbeats")[0]["due_at"] == pinged + 6 * 60, what="the deadline"
        )
        assert heartbeat_alerts(db) == []
        await app.advance(61)
        await app.wait_until(lambda: heartbeat_alerts(db), what="the missed heartbeat's alert")
        alert = heartbeat_alerts(db)[0]
        assert alert["status"] == "open" and alert["severity"] == "critical"
        assert alert["title"].startswith("heartbeat nightly-backup missed: last ping at ")
        assert alert["title"].endswith(("CET", "CEST"))  # the heartbeat's zone
        await app.wait_until(lambda: [s["user"] for s in sends(sent)] == ["alice"], what="alice paged")
        # Closure notices go to those the page reached: wait until its send is recorded.
        await app.wait_until(
            lambda: db.rows("SELECT status FROM outbox WHERE purpose = 'alert'")[0]["status"] == "sent",
            what="the page recorded as sent",
        )
        # Missed once, one alert: more time without a ping opens no second one.
        await app.advance(3600)
        assert len(heartbeat_alerts(db)) == 1

        response = await app.post(f"/hb/{TOKEN}", content=b"backup ok: 12 GiB")
        assert response.status_code == 200
        alert = heartbeat_alerts(db)[0]
        assert (alert["status"], alert["closed_by"]) == ("closed", "heartbeat:nightly-backup")
        pings = db.rows("SELECT * FROM heartbeat_pings ORDER BY id")
        assert [(p["method"], p["body"], p["closed_alert_id"]) for p in pings] == [
            ("GET", b"", None),
            ("POST", b"backup ok: 12 GiB", alert["id"]),
        ]
        await app.wait_until(
            lambda: [s["purpose"] for s in sends(sent)] == ["alert", "closed"], what="the closure notice"
        )
        row = db.rows("SELECT * FROM heartbeats")[0]
        assert row["state"] == "up" and row["ping_count"] == 2

        # The next miss opens a new alert, linked to the last.
        await app.advance(6 * 60 + 1)
        await app.wait_until(lambda: len(heartbeat_alerts(db)) == 2, what="the second miss")
        assert heartbeat_alerts(db)[1]["previous_alert_id"] == alert["id"]

        shown = await app.off_loop(run_cli_in_process, "alerts", "show", str(alert["id"]), "-c", str(config))
        assert "closed by heartbeat:nightly-backup" in shown.stdout, shown.stdout


async def test_a_heartbeat_never_pinged_is_missed_interval_and_grace_after_it_was_set_up(tmp_path: Path) -> None:
    config, _sent, db = beat_config(tmp_path)
    async with in_process(config) as app:
        await app.wait_until(lambda: db.rows("SELECT * FROM heartbeats"), what="the heartbeat's row")
        await app.advance(6 * 60 + 1)
        await app.wait_until(lambda: heartbeat_alerts(db), what="the alert")
        assert "no ping since it was set up at" in heartbeat_alerts(db)[0]["title"]


async def test_bad_pings_are_refused_and_change_nothing(tmp_path: Path) -> None:
    config, _sent, db = beat_config(tmp_path)
    async with in_process(config) as app:
        assert (await app.get("/hb/not-the-token")).status_code == 404
        assert (await app.get(f"/hb/{TOKEN}x")).status_code == 404
        response = await app.client.put(f"/hb/{TOKEN}", content=b"x")
        assert response.status_code == 405 and "use GET or POST" in response.text
        response = await app.post(f"/hb/{TOKEN}", content=b"x" * (16 * 1024 + 1))
        assert response.status_code == 413 and "16384 bytes" in response.text
        assert db.rows("SELECT COUNT(*) AS n FROM heartbeat_pings")[0]["n"] == 0
        row = await app.wait_until(lambda: db.rows("SELECT * FROM heartbeats"), what="the heartbeat's row")
        assert row[0]["last_ping_at"] is None
        assert (await app.client.head(f"/hb/{TOKEN}")).status_code == 200
        assert db.rows("SELECT COUNT(*) AS n FROM heartbeat_pings")[0]["n"] == 1


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"interval_minutes": 0}, "heartbeats.b.interval_minutes: expected a number >= 0.05; found number 0"),
        ({"interval_minutes": 5, "grace_minutes": -1}, "heartbeats.b.grace_minutes"),
        ({"interval_minutes": 5, "escalation_policy": "nope"}, "heartbeats.b.escalation_policy: expected the name"),
        ({"interval_minutes": 5, "token": "short"}, "heartbeats.b.token: expected 22 to 128 characters"),
        ({"interval_minutes": 5, "timezone": "Mars/Base"}, "heartbeats.b.timezone: expected an IANA time zone"),
        ({"grace_minutes": 5}, "heartbeats.b.interval_minutes"),
        ({"interval_minutes": 5, "title": "x" * 301}, "heartbeats.b.title"),
    ],
)
def test_bad_heartbeat_settings_name_their_key(table: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(Path("a.toml"), {"heartbeats": {"b": table}}, None)
    assert expected in str(info.value)


def test_missed_heartbeat_across_sigkill_neither_false_nor_lost(tmp_path: Path) -> None:
    """The process itself: a ping committed before a kill -9 counts after the restart; the alert
    opens at that ping's deadline, not earlier and not a full interval after the restart."""
    interval, grace = 4 / 60, 2 / 60  # missed 6 s after the last ping
    deadline, down = 6, 3
    config, _sent, db = beat_config(tmp_path, interval, grace)
    daemon = DaemonProcess(config)
    daemon.start()
    try:
        assert httpx_get(daemon, f"/hb/{TOKEN}") == 200
        pinged = db.rows("SELECT last_ping_at FROM heartbeats")[0]["last_ping_at"]
        daemon.kill()
        # While it is down (what the command prints needs no daemon; run in this process).
        listed = run_cli_in_process("heartbeats", "--json", "-c", str(config))
        assert listed.returncode == 0, listed.stderr
        (item,) = json.loads(listed.stdout)
        assert item["url"].endswith(f"/hb/{TOKEN}") and item["interval_minutes"] == interval
        wait_until(lambda: time.time() > pinged + down, what="part of the deadline to pass while down")
        daemon.start()
        restarting = daemon.logged_at("event=http.listening")  # its loops start after this
        assert db.rows("SELECT last_ping_at FROM heartbeats")[0]["last_ping_at"] == pinged
        wait_until(lambda: heartbeat_alerts(db), timeout=30, what="the missed heartbeat's alert")
        logged = daemon.wait_for("heartbeat.missed")  # the operator's log names the miss
        assert "nightly-backup" in logged, logged
        opened = heartbeat_alerts(db)[0]["created_at"]
        assert opened >= pinged + deadline, "fired before the deadline of the ping made before the restart"
        # A timer restarted with the process would fire a whole interval and grace after its loops
        # began, at the earliest. (Measured from the daemon's own log, not from the test's restart:
        # a loaded CI machine took 7.7 s to start the interpreter once.)
        assert opened < restarting + deadline, f"fired {opened - restarting:.1f} s after the restarted daemon listened"
        assert httpx_get(daemon, f"/hb/{TOKEN}") == 200
        assert heartbeat_alerts(db)[0]["status"] == "closed"
        shown = run_cli_in_process("heartbeats", "-c", str(config))
        assert "nightly-backup [up]" in shown.stdout and "2 pings" in shown.stdout, shown.stdout
        daemon.signal(signal.SIGTERM)
    finally:
        daemon.kill()


def httpx_get(daemon: DaemonProcess, path: str) -> int:
    return daemon.get(path).status_code


async def test_the_heartbeats_api_shows_state_and_deadline_but_never_the_token(tmp_path: Path) -> None:
    api = "api-token-0123456789abcdef0123456789abcdef"
    config, _sent, db = beat_config(tmp_path)
    config.write_text(config.read_text().replace("[server]\n", f'[server]\napi_tokens = ["{api}"]\n', 1))
    auth = {"Authorization": f"Bearer {api}"}
    async with in_process(config) as app:
        assert (await app.get("/api/v1/heartbeats")).status_code == 401
        wrong = await app.get("/api/v1/heartbeats", headers={"Authorization": f"Bearer {api}x"})
        assert wrong.status_code == 401
        assert (await app.get("/api/v1/heartbeats/nightly-backup")).status_code == 401
        await app.wait_until(lambda: db.rows("SELECT * FROM heartbeats"), what="the heartbeat set up")
        [before] = (await app.get("/api/v1/heartbeats", headers=auth)).json()
        assert (before["name"], before["state"], before["last_ping_at"]) == ("nightly-backup", "waiting", None)
        assert (await app.get(f"/hb/{TOKEN}")).status_code == 200
        response = await app.get("/api/v1/heartbeats", headers=auth)
        assert response.status_code == 200 and TOKEN not in response.text and "/hb/" not in response.text
        [item] = response.json()
        row = db.rows("SELECT * FROM heartbeats")[0]
        assert item["state"] == "up" and item["ping_count"] == 1
        assert item["last_ping_at_epoch"] == row["last_ping_at"]
        assert item["due_at_epoch"] == row["last_ping_at"] + 6 * 60  # interval 5 + grace 1 minutes
        assert item["last_ping_at"].endswith("+00:00")
        one = await app.get("/api/v1/heartbeats/nightly-backup", headers=auth)
        assert one.json() == item
        missing = await app.get("/api/v1/heartbeats/nope", headers=auth)
        assert missing.status_code == 404 and missing.json() == {"error": "no heartbeat named 'nope'"}


MARKER = """
[heartbeats.marker]
interval_minutes = 5
grace_minutes = 1
escalation_policy = "ops"
token = "marker-heartbeat-token-0123456789abcdef"
"""


async def test_a_maintenance_window_holds_a_missed_heartbeats_page_until_it_ends(tmp_path: Path) -> None:
    api = "api-token-0123456789abcdef0123456789abcdef"
    config, sent, db = beat_config(tmp_path, extra=MARKER)
    config.write_text(config.read_text().replace("[server]\n", f'[server]\napi_tokens = ["{api}"]\n', 1))
    auth = {"Authorization": f"Bearer {api}"}
    async with in_process(config) as app:
        bad = await app.post(
            "/api/v1/maintenance",
            json={"integrations": ["heartbeat:nope"], "duration_minutes": 60, "reason": "x"},
            headers=auth,
        )
        assert bad.status_code == 400 and "no integration named 'heartbeat:nope'" in bad.text
        response = await app.post(
            "/api/v1/maintenance",
            json={"integrations": ["heartbeat:nightly-backup"], "duration_minutes": 60, "reason": "backup host moves"},
            headers=auth,
        )
        assert response.status_code == 201, response.text
        window = response.json()["id"]
        assert (await app.get(f"/hb/{TOKEN}")).status_code == 200
        assert (await app.get("/hb/marker-heartbeat-token-0123456789abcdef")).status_code == 200
        await app.advance(6 * 60 + 1)  # both missed: only the marker (not covered) pages
        marker = await app.wait_until(
            lambda: db.rows("SELECT id FROM alerts WHERE integration = 'heartbeat:marker'"), what="the marker alert"
        )
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == marker[0]["id"]], what="its page")
        [held] = heartbeat_alerts(db)
        assert held["status"] == "open" and held["maintenance_id"] == window
        events = [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ?", (held["id"],))]
        assert events[:2] == ["opened", "maintenance_suppressed"]
        await app.advance(30 * 60)
        await app.wait_until(lambda: len(sends(sent)) >= 1)
        assert not [s for s in sends(sent) if s["alert_id"] == held["id"]]
        # The window ends: the missed heartbeat's alert, still open, pages.
        await app.advance(30 * 60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == held["id"]], what="the page after")


def test_a_recurring_window_may_name_a_heartbeat_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    base = {
        "heartbeats": {"b": {"interval_minutes": 5}},
        "maintenance": {"w": {"integrations": ["heartbeat:b"], "days": ["sun"], "start": "02:00", "end": "04:00"}},
    }
    build_config(Path("a.toml"), base, None)
    base["maintenance"]["w"]["integrations"] = ["heartbeat:nope"]
    with pytest.raises(ConfigError) as info:
        build_config(Path("a.toml"), base, None)
    assert "maintenance.w.integrations[0]: expected the name of one of [heartbeats] (b)" in str(info.value)
