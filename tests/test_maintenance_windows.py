"""Maintenance windows: messages are logged and mapped and alerts open, but nobody is paged until
the window ends (then paging starts, or not with on_end = quiet). In-process on the fake clock,
with the recorder channel as the peer; the CLI as a subprocess for its output and errors."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alertd.config import ConfigError, build_config
from alertd.config.models import MaintenanceConfig
from alertd.maintenance_windows import WindowCache, occurrence
from helpers import ROOT, run_cli, run_cli_in_process
from inbound_fixtures import EVENTS_TOKEN, TOKEN, Db, sample_message, sns_config
from inprocess import InProcess, in_process
from sns_signing import headers_for, notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "maintenance-test-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

PEOPLE = """
[channels.recorder]
path = "{sent}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]
"""


def make_config(tmp_path: Path, extra: str = "") -> tuple[Path, Path, Db]:
    sent = tmp_path / "sent.jsonl"
    config = sns_config(
        tmp_path, PEOPLE.format(sent=sent) + extra, server=f'api_tokens = [{{ name = "ops", token = "{API_TOKEN}" }}]'
    )
    text = config.read_text()
    for name in ("alarms", "events"):
        text = text.replace(
            f'[integrations.{name}]\ntype = "aws_sns"',
            f'[integrations.{name}]\ntype = "aws_sns"\nescalation_policy = "ops"',
        )
    config.write_text(f'plugins_dir = "{ROOT / "tests" / "plugins_dir"}"\n' + text)
    return config, sent, Db(tmp_path / "alertd.db")


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def alarm(app: InProcess, state: str = "ALARM", name: str | None = None) -> tuple[dict, str]:
    """Post a CloudWatch alarm (a new one unless ``name``); return its inbound-log row and name."""
    message, _, _ = sample_message(f"sns-cloudwatch-alarm-{state}.json")
    name = name or f"Alarm-{uuid.uuid4().hex[:6]}"
    envelope = notification(message.replace("ConsoleSignInFailures", name))
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text
    (row,) = Db(app.config.parent / "alertd.db").rows("SELECT * FROM inbound_log ORDER BY id DESC LIMIT 1")
    return row, name


async def event(app: InProcess) -> dict:
    """An alert on the other integration (``events``), outside every window here."""
    message, _, _ = sample_message("sns-eventbridge-cloudtrail-consolelogin-failure.json")
    envelope = notification(message.replace("3a5b7c9d-0e1f-4a2b-8c3d-5e6f7a8b9c0d", str(uuid.uuid4())))
    response = await app.post(
        f"/in/{EVENTS_TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
    )
    assert response.status_code == 200
    return Db(app.config.parent / "alertd.db").rows("SELECT * FROM inbound_log ORDER BY id DESC LIMIT 1")[0]


def kinds(db: Db, alert_id: int) -> list[str]:
    return [r["kind"] for r in db.rows("SELECT kind FROM alert_events WHERE alert_id = ? ORDER BY id", (alert_id,))]


async def test_a_window_suppresses_paging_and_paging_starts_when_it_ends(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        response = await app.post(
            "/api/v1/maintenance",
            json={"integrations": ["alarms"], "duration_minutes": 60, "reason": "patching the database"},
            headers=AUTH,
        )
        assert response.status_code == 201, response.text
        window = response.json()
        assert window["created_by"] == "api:ops" and window["on_end"] == "page"

        row, name = await alarm(app)
        # Received, logged and mapped: the row says which window applied; the alert exists.
        assert row["outcome"] == "Mapped Open" and row["maintenance_id"] == window["id"]
        assert f"maintenance window #{window['id']}: not paged" in row["reason"]
        alert_id = row["alert_id"]
        (alert,) = db.rows("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        assert alert["status"] == "open" and alert["maintenance_id"] == window["id"]
        assert kinds(db, alert_id) == ["opened", "maintenance_suppressed"]
        # A repeat during the window is mapped as usual.
        repeat, _ = await alarm(app, name=name)
        assert repeat["outcome"] == "Mapped Appended" and repeat["maintenance_id"] == window["id"]

        # Nobody is paged, checked against a marker: an alert outside the window pages, and the
        # loops have passed the held alert's due time long before.
        marker = await event(app)
        await app.advance(30 * 60)
        await app.wait_until(
            lambda: any(s["alert_id"] == marker["alert_id"] for s in sends(sent)), what="the marker's page"
        )
        assert not [s for s in sends(sent) if s["alert_id"] == alert_id]
        assert db.rows("SELECT next_due FROM escalations WHERE alert_id = ?", (alert_id,))[0]["next_due"] is None

        # The window ends at its time: the alert still open starts paging.
        await app.advance(31 * 60)
        await app.wait_until(
            lambda: [s for s in sends(sent) if s["alert_id"] == alert_id], what="the page after the window"
        )
        assert kinds(db, alert_id)[3:5] == ["maintenance_ended", "escalated"]
        ended = db.rows("SELECT * FROM maintenance_windows WHERE id = ?", (window["id"],))[0]
        assert ended["ended_by"] == "maintenance"
        # After the window, a new alert pages at once, with no window in its row.
        after, _ = await alarm(app)
        assert after["maintenance_id"] is None
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == after["alert_id"]], what="a page")

        shown = await app.off_loop(run_cli_in_process, "alerts", "show", str(alert_id), "-c", str(config))
        assert f"not paged: maintenance window #{window['id']}" in shown.stdout, shown.stdout
        assert "ended: paging starts now" in shown.stdout


async def test_quiet_end_and_closing_during_a_window_page_nobody(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        response = await app.post(
            "/api/v1/maintenance",
            json={
                "integrations": ["alarms"],
                "duration_minutes": 120,
                "reason": "load test",
                "on_end": "quiet",
                "match": {"field": "Message^AlarmName", "regex": "^Quiet-"},
            },
            headers=AUTH,
        )
        assert response.status_code == 201, response.text
        window_id = response.json()["id"]
        held, _ = await alarm(app, name="Quiet-1")
        closed, name = await alarm(app, name="Quiet-2")
        unmatched, _ = await alarm(app, name="Loud-1")  # not matched: pages as usual
        assert held["maintenance_id"] == window_id and unmatched["maintenance_id"] is None
        ok, _ = await alarm(app, "OK", name=name)
        assert ok["outcome"] == "Mapped Closed" and ok["alert_id"] == closed["alert_id"]
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == unmatched["alert_id"]], what="a page")

        response = await app.post(f"/api/v1/maintenance/{window_id}/end", headers=AUTH)
        assert response.status_code == 200 and response.json()["alerts_released"] == 1
        assert (await app.post(f"/api/v1/maintenance/{window_id}/end", headers=AUTH)).status_code == 409
        plan = db.rows("SELECT * FROM escalations WHERE alert_id = ?", (held["alert_id"],))[0]
        assert plan["state"] == "stopped" and "ended quietly" in plan["reason"]
        marker = await event(app)
        await app.advance(3600)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == marker["alert_id"]], what="marker")
        assert {s["alert_id"] for s in sends(sent)} == {unmatched["alert_id"], marker["alert_id"]}
        listed = (await app.get("/api/v1/maintenance?all=1", headers=AUTH)).json()
        assert [(w["id"], w["state"], w["ended_by"]) for w in listed] == [(window_id, "ended", "api:ops")]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"[1]", 400, "Input should be a valid dictionary"),
        (b"{", 400, "the body must be a JSON object"),
        (
            json.dumps({"integrations": ["nope"], "reason": "x", "duration_minutes": 5}).encode(),
            400,
            "no integration named 'nope'",
        ),
        (json.dumps({"integrations": ["alarms"], "reason": "x"}).encode(), 400, "give either end or duration_minutes"),
        (
            json.dumps({"integrations": ["alarms"], "reason": "x", "duration_minutes": 99999999}).encode(),
            400,
            "duration_minutes",
        ),
        (json.dumps({"integrations": ["alarms"], "reason": "", "duration_minutes": 5}).encode(), 400, "reason"),
        (json.dumps({"integrations": ["alarms"], "reason": "x", "end": "yesterday"}).encode(), 400, "end must be"),
        (json.dumps({"integrations": ["alarms"], "reason": "x", "end": 1}).encode(), 400, "must end after its start"),
        (
            json.dumps(
                {
                    "integrations": ["alarms"],
                    "reason": "x",
                    "duration_minutes": 5,
                    "match": {"field": "a", "regex": "("},
                }
            ).encode(),
            400,
            "match: ",
        ),
        (
            json.dumps({"integrations": ["alarms"], "reason": "x", "duration_minutes": 5, "extra": 1}).encode(),
            400,
            "extra",
        ),
        (b"{" + b" " * 5000 + b"}", 413, "at most 4096 bytes"),
    ],
)
async def test_bad_window_requests_get_a_4xx_with_the_reason(
    tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    config, _sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        response = await app.post("/api/v1/maintenance", content=body, headers=AUTH)
        assert response.status_code == status, response.text
        assert reason in response.json()["error"]
        assert (await app.post("/api/v1/maintenance", content=body)).status_code == 401
        assert db.rows("SELECT COUNT(*) AS n FROM maintenance_windows")[0]["n"] == 0


async def test_a_recurring_window_from_the_config_applies_in_its_hours(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    config, sent, db = make_config(
        tmp_path,
        f"""
[maintenance.nightly-patching]
integrations = ["alarms"]
start = "{start}"
end = "{end}"
timezone = "UTC"
reason = "OS patches"
""",
    )
    async with in_process(config) as app:
        window = await app.wait_until(lambda: db.rows("SELECT * FROM maintenance_windows"), what="the occurrence row")
        assert window[0]["name"] == "nightly-patching" and window[0]["starts_at"] <= time.time() < window[0]["ends_at"]
        row, _ = await alarm(app)
        assert row["maintenance_id"] == window[0]["id"] and "(nightly-patching): not paged" in row["reason"]
        await app.advance(window[0]["ends_at"] - time.time() + 1)
        await app.wait_until(
            lambda: [s for s in sends(sent) if s["alert_id"] == row["alert_id"]], what="the page after"
        )
        # The next occurrence is written as the last one ends: tomorrow, same hours.
        rows = await app.wait_until(
            lambda: db.rows("SELECT * FROM maintenance_windows WHERE ended_at IS NULL"), what="next"
        )
        assert rows[0]["starts_at"] == pytest.approx(window[0]["starts_at"] + 86400)


def test_occurrences_keep_their_local_hours_across_dst() -> None:
    window = MaintenanceConfig(integrations=["i"], days=["sun"], start="23:00", end="01:00", timezone="Europe/Berlin")
    # Sunday 2026-03-29 is the spring-forward day in Berlin; 2026-03-28 12:00 UTC is a Saturday.
    starts, ends = occurrence(window, datetime(2026, 3, 28, 12, tzinfo=UTC).timestamp())
    assert datetime.fromtimestamp(starts, UTC) == datetime(2026, 3, 29, 21, tzinfo=UTC)  # 23:00 CEST
    assert datetime.fromtimestamp(ends, UTC) == datetime(2026, 3, 29, 23, tzinfo=UTC)  # 01:00 CEST
    # In progress: the same occurrence, not the next week's.
    assert occurrence(window, starts + 60) == (starts, ends)
    assert occurrence(window, ends)[0] == pytest.approx(starts + 7 * 86400)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"integrations": ["nope"], "start": "01:00", "end": "02:00"},
            "maintenance.w.integrations[0]: expected the name",
        ),
        ({"integrations": [], "start": "01:00", "end": "02:00"}, "maintenance.w.integrations"),
        ({"integrations": ["i"], "start": "01:00", "end": "01:00"}, "maintenance.w.end: expected an end different"),
        ({"integrations": ["i"], "start": "01:00", "end": "02:00", "days": ["funday"]}, "maintenance.w.days[0]"),
        ({"integrations": ["i"], "start": "01:00", "end": "02:00", "on_end": "loud"}, "maintenance.w.on_end"),
        ({"integrations": ["i"], "start": "01:00", "end": "02:00", "timezone": "X/Y"}, "maintenance.w.timezone"),
        (
            {"integrations": ["i"], "start": "01:00", "end": "02:00", "match": {"field": "a", "regex": "("}},
            "maintenance.w.match.regex: expected a regular expression",
        ),
    ],
)
def test_bad_recurring_windows_name_their_key(table: dict, expected: str) -> None:
    data = {"integrations": {"i": {"type": "aws_sns"}}, "maintenance": {"w": table}}
    with pytest.raises(ConfigError) as info:
        build_config(Path("a.toml"), data, None)
    assert expected in str(info.value)


def test_the_cli_adds_lists_and_ends_windows(tmp_path: Path) -> None:
    config, _sent, db = make_config(tmp_path)
    c = ("-c", str(config))
    added = run_cli_in_process(
        "maintenance",
        "add",
        "--integration",
        "alarms",
        "--match",
        "Message^AlarmName=prod-db",
        "--for",
        "2h",
        "--reason",
        "db upgrade",
        *c,
    )
    assert added.returncode == 0, added.stderr
    assert "alarms where Message^AlarmName=prod-db" in added.stdout and "db upgrade" in added.stdout
    listed = json.loads(run_cli_in_process("maintenance", "--json", *c).stdout)
    assert [(w["id"], w["state"], w["match"]) for w in listed] == [
        (1, "active", {"field": "Message^AlarmName", "equals": "prod-db"})
    ]
    assert listed[0]["created_by"].startswith("cli:")
    for args, message in [
        (["--integration", "nope", "--for", "1h", "--reason", "x"], "no integration named 'nope'"),
        (["--integration", "alarms", "--for", "1x", "--reason", "x"], "--for: expected a duration"),
        (["--integration", "alarms", "--reason", "x"], "give either --end or --for"),
        (["--integration", "alarms", "--end", "2001-01-01T00:00", "--reason", "x"], "must end after its start"),
        (["--integration", "alarms", "--for", "40d", "--reason", "x"], "at most 31 days"),
        (
            ["--integration", "alarms", "--for", "1h", "--match", "novalue", "--reason", "x"],
            "--match: expected FIELD=VALUE",
        ),
    ]:
        result = run_cli_in_process("maintenance", "add", *args, *c)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    ended = run_cli_in_process("maintenance", "end", "1", *c)
    assert ended.returncode == 0 and "#1 ended; 0 open alert(s)" in ended.stdout, ended.stderr
    again = run_cli_in_process("maintenance", "end", "1", *c)
    assert again.returncode == 2 and "already ended" in again.stderr
    assert "no maintenance windows" in run_cli_in_process("maintenance", *c).stdout
    assert db.rows("SELECT ended_by FROM maintenance_windows")[0]["ended_by"].startswith("cli:")


async def test_windows_added_and_ended_by_the_cli_in_another_process_apply_from_the_next_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon keeps the windows in memory (maintenance_windows.WindowCache): messages do not
    read the table, yet a window the CLI commits in another process applies to the next message,
    and one it ends stops applying (a trigger bumps a counter the writer checks once per batch)."""
    config, _sent, db = make_config(tmp_path)
    loads: list[int] = []
    load = WindowCache._load

    def counted(self: WindowCache, reader: object) -> object:
        loads.append(1)
        return load(self, reader)  # type: ignore[arg-type]

    monkeypatch.setattr(WindowCache, "_load", counted)
    c = ("-c", str(config))
    async with in_process(config) as app:
        first, name = await alarm(app)
        assert first["maintenance_id"] is None and len(loads) == 1
        for _ in range(3):
            assert (await alarm(app))[0]["maintenance_id"] is None
        assert len(loads) == 1, "a message read the windows although none changed"

        added = await app.off_loop(
            run_cli, "maintenance", "add", "--integration", "alarms", "--for", "1h", "--reason", "deploy", *c
        )
        assert added.returncode == 0, added.stderr
        (window,) = db.rows("SELECT id FROM maintenance_windows")
        during, _ = await alarm(app)
        assert during["maintenance_id"] == window["id"] and "not paged" in during["reason"]
        repeat, _ = await alarm(app, name=name)
        assert repeat["outcome"] == "Mapped Appended" and repeat["maintenance_id"] == window["id"]
        assert len(loads) == 2, "the windows were not read once after the change"

        ended = await app.off_loop(run_cli, "maintenance", "end", str(window["id"]), *c)
        assert ended.returncode == 0, ended.stderr
        after, _ = await alarm(app)
        assert after["outcome"] == "Mapped Open" and after["maintenance_id"] is None


async def test_a_window_that_ends_while_the_daemon_is_down_pages_at_start(tmp_path: Path) -> None:
    """Windows and held plans are rows: a daemon that was not running at the window's end pages
    the alerts it held as it starts (two runs of the daemon on one database)."""
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        response = await app.post(
            "/api/v1/maintenance",
            json={"integrations": ["alarms"], "duration_minutes": 10, "reason": "switch swap"},
            headers=AUTH,
        )
        assert response.status_code == 201
        row, _ = await alarm(app)
    assert sends(sent) == []
    # The first daemon is gone; the window's end passes while nothing runs.
    async with in_process(config) as app:
        await app.advance(11 * 60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == row["alert_id"]], what="the page")
        assert kinds(db, row["alert_id"])[:4] == ["opened", "maintenance_suppressed", "maintenance_ended", "escalated"]


async def add_window(app: InProcess, minutes: float, match: dict | None = None) -> int:
    body: dict = {"integrations": ["alarms"], "duration_minutes": minutes, "reason": "overlap"}
    if match is not None:
        body["match"] = match
    response = await app.post("/api/v1/maintenance", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_overlapping_windows_hold_an_alert_until_the_last_one_ends(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    match = {"field": "Message^AlarmName", "regex": "^Held-"}
    async with in_process(config) as app:
        first = await add_window(app, 60, match)
        held, _ = await alarm(app, name="Held-1")
        assert held["maintenance_id"] == first
        alert_id = held["alert_id"]
        second = await add_window(app, 120, match)  # added later, applies to the alert too
        await add_window(app, 180, {"field": "Message^AlarmName", "regex": "^Other-"})  # does not
        await app.advance(61 * 60)  # the first ends; the second still applies
        await app.wait_until(
            lambda: (
                db.rows("SELECT maintenance_id FROM alerts WHERE id = ?", (alert_id,))[0]["maintenance_id"] == second
            ),
            what="the alert moved to the second window",
        )
        marker = await event(app)
        await app.advance(60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == marker["alert_id"]], what="marker")
        assert not [s for s in sends(sent) if s["alert_id"] == alert_id]
        assert kinds(db, alert_id) == ["opened", "maintenance_suppressed", "maintenance_ended"]
        out = run_cli_in_process("-c", str(config), "alerts", "show", str(alert_id))
        assert f"maintenance window #{first} ended: still held by window #{second}" in out.stdout, out.stdout
        await app.advance(60 * 60)  # the second ends: now it pages
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == alert_id], what="the page")
        assert kinds(db, alert_id)[3:5] == ["maintenance_ended", "escalated"]


async def test_ending_the_holding_window_by_hand_leaves_an_alert_held_by_another(tmp_path: Path) -> None:
    config, sent, db = make_config(tmp_path)
    async with in_process(config) as app:
        short = await add_window(app, 30)
        long = await add_window(app, 90)
        held, _ = await alarm(app)
        assert held["maintenance_id"] == long  # the one ending last
        response = await app.post(f"/api/v1/maintenance/{long}/end", headers=AUTH)
        assert response.status_code == 200 and response.json()["alerts_released"] == 0
        assert db.rows("SELECT maintenance_id FROM alerts WHERE id = ?", (held["alert_id"],))[0]["maintenance_id"] == (
            short
        )
        marker = await event(app)
        await app.advance(60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == marker["alert_id"]], what="marker")
        assert not [s for s in sends(sent) if s["alert_id"] == held["alert_id"]]
        await app.advance(30 * 60)
        await app.wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == held["alert_id"]], what="the page")


async def test_a_deleted_generation_row_means_windows_read_from_the_table(tmp_path: Path) -> None:
    """The windows' generation counter (table_generations) deleted by hand: messages are still
    answered, and the windows are read from the table for each message (no copy to trust)."""
    import sqlite3

    from postgres import db_url

    def delete_counter() -> None:
        url = db_url(tmp_path / "alertd.db")
        if url is None:
            with sqlite3.connect(tmp_path / "alertd.db") as conn:
                conn.execute("DELETE FROM table_generations")
            return
        from alertd.store import postgres

        pg = postgres.connect(url)
        try:
            pg.execute("DELETE FROM table_generations")
        finally:
            pg.close()

    config, _sent, db = make_config(tmp_path)
    c = ("-c", str(config))
    async with in_process(config) as app:
        assert (await alarm(app))[0]["maintenance_id"] is None  # the copy is loaded, at generation 0
        delete_counter()
        assert (await alarm(app))[0]["maintenance_id"] is None
        added = await app.off_loop(
            run_cli, "maintenance", "add", "--integration", "alarms", "--for", "1h", "--reason", "deploy", *c
        )
        assert added.returncode == 0, added.stderr  # (no counter bumped: the trigger updates no row)
        (window,) = db.rows("SELECT id FROM maintenance_windows")
        during, _ = await alarm(app)
        assert during["maintenance_id"] == window["id"]
        ended = await app.off_loop(run_cli, "maintenance", "end", str(window["id"]), *c)
        assert ended.returncode == 0, ended.stderr
        assert (await alarm(app))[0]["maintenance_id"] is None
