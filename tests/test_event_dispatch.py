"""The event dispatcher: every committed alert event reaches plugins, once the process that
wrote it is gone too (the CLI), and again after a SIGKILL between commit and dispatch."""

from __future__ import annotations

import json
import shutil
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from alertd import alerts, hookspecs
from alertd.engine.events import events_after, loops_to_wake, read_cursor, save_cursor
from alertd.mapping import Decision
from alertd.store import Store
from alertd.store.schema import migrate
from alertd.timeline import EventKind
from helpers import ROOT, DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import TOKEN, Db, post_envelope, sample_message, sns_config
from postgres import connect
from sns_signing import notification

OPEN = Decision("open", "Mapped Open", source_id="s", title="t")

# --- kinds: one Enum, every kind documented ------------------------------------------------


def test_every_event_kind_is_documented_in_the_hookspec() -> None:
    doc = hookspecs.alertd_alert_event.__doc__ or ""
    missing = [k.value for k in EventKind if f"``{k.value}``" not in doc]
    assert missing == [], f"event kinds not documented in hookspecs.alertd_alert_event: {missing}"


def test_every_kind_written_in_the_code_is_in_the_enum() -> None:
    # add_event refuses a kind outside the Enum, so an emitted kind is always a documented one;
    # this also catches a literal kind on a path no other test runs.
    import re

    sources = [*(ROOT / "src").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    literal = re.compile(r'add_event\(\s*db,\s*[^,]+,\s*"([a-z_]+)"', re.S)
    written = {m for path in sources for m in literal.findall(path.read_text())}
    assert written, "the scan found no add_event calls: the pattern is stale"
    assert written - {k.value for k in EventKind} == set()


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_add_event_refuses_an_unknown_kind(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    migrate(db)
    alert_id, _ = alerts.open_alert(db, "i", None, OPEN, None, 1.0)
    with pytest.raises(ValueError):
        alerts.add_event(db, alert_id, "exploded", "x", "y", 2.0)


def test_loops_to_wake() -> None:
    assert loops_to_wake(["opened"]) == {"escalation"}
    assert loops_to_wake(["escalated", "appended"]) == {"delivery"}
    assert loops_to_wake(["acknowledged", "appended"]) == set()


# --- the cursor ----------------------------------------------------------------------------


def test_an_existing_database_starts_its_cursor_at_its_last_event(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    migrate(db, target=9)  # the schema before the dispatcher
    alert_id, _ = alerts.open_alert(db, "i", None, OPEN, None, 1.0)
    alerts.acknowledge(db, alert_id, "erik", "cli", 2.0)
    last = db.execute("SELECT MAX(id) FROM alert_events").fetchone()[0]
    migrate(db)
    assert read_cursor(db) == last  # history is not replayed
    assert events_after(db, read_cursor(db)) == []
    alerts.close(db, alert_id, "erik", "cli", 3.0)
    [closed] = events_after(db, read_cursor(db), snapshots=True)
    assert (closed.kind, closed.id, closed.alert["status"]) == ("closed", last + 1, "closed")
    save_cursor(db, last + 1, 4.0)
    save_cursor(db, last, 5.0)  # never moves back
    assert read_cursor(db) == last + 1


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_a_new_database_dispatches_from_its_first_event(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    migrate(db)
    assert read_cursor(db) == 0
    alerts.open_alert(db, "i", None, OPEN, None, 1.0)
    assert [e.kind for e in events_after(db, 0)] == ["opened"]


async def test_only_commits_that_add_events_wake_the_dispatcher(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    store.open()
    store.start()
    woken: list[int] = []
    store.on_commit = lambda: woken.append(1)
    try:
        alert_id, _ = await store.write(lambda db: alerts.open_alert(db, "i", None, OPEN, None, 1.0))
        assert len(woken) == 1
        await store.write(lambda db: db.execute("UPDATE alerts SET title = 'x'"))  # no event
        assert len(woken) == 1
        await store.write(lambda db: alerts.acknowledge(db, alert_id, "erik", "api", 2.0))
        assert len(woken) == 2
    finally:
        await store.aclose()


# --- a real daemon -------------------------------------------------------------------------

POLICY = """
plugins_dir = "{plugins}"

[channels.recorder]
path = "{sent}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]
"""


def event_daemon(tmp_path: Path, **env: str) -> tuple[DaemonProcess, Db, Path]:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "tests" / "event_plugins" / "event_log.py", plugins)
    shutil.copy(ROOT / "tests" / "plugins_dir" / "recorder.py", plugins)
    log = tmp_path / "events.jsonl"
    config = sns_config(tmp_path, alarms='escalation_policy = "ops"')
    config.write_text(POLICY.format(plugins=plugins, sent=tmp_path / "sent.jsonl") + config.read_text())
    daemon = DaemonProcess(config, env={"ALERTD_TEST_EVENT_LOG": str(log), **env})
    return daemon, Db(tmp_path / "alertd.db"), log


def heard(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def alarm() -> dict:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    return notification(message.replace("ConsoleSignInFailures", f"Alarm-{uuid.uuid4().hex[:6]}"))


def test_cli_acks_and_closes_reach_plugins_within_2s_or_at_start(tmp_path: Path) -> None:
    daemon, db, log = event_daemon(tmp_path)
    with daemon:
        assert post_envelope(daemon, alarm()).status_code == 200
        alert_id = db.alerts()[-1]["id"]
        wait_until(lambda: any(e["kind"] == "notified" for e in heard(log)), what="the page to be heard")
        result = run_cli_in_process("ack", str(alert_id), "--user", "alice", "-c", str(daemon.config))
        assert result.returncode == 0, result.stderr
        done = time.monotonic()
        [ack] = wait_until(
            lambda: [e for e in heard(log) if e["kind"] == "acknowledged"], timeout=10, what="the CLI ack"
        )
        elapsed = time.monotonic() - done
        assert elapsed < 2.0, f"the CLI ack reached the plugin after {elapsed:.2f} s"
        assert (ack["alert_id"], ack["actor"], ack["via"], ack["status"]) == (alert_id, "alice", "cli", "acknowledged")
        # ... and /metrics counts it (the CLI wrote the database, not the daemon).
        assert 'alertd_alert_events_total{kind="acknowledged"} 1.0' in daemon.get("/metrics").text
        ids = [e["id"] for e in heard(log)]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        last = db.rows("SELECT MAX(id) AS m FROM alert_events")[0]["m"]
        wait_until(
            lambda: db.rows("SELECT last_id FROM event_cursors WHERE name = 'dispatch'")[0]["last_id"] == last,
            what="the cursor to be saved",
        )
    # With the daemon down the CLI still works; the daemon hands the close on when it starts.
    result = run_cli_in_process("close", str(alert_id), "--user", "alice", "-c", str(daemon.config))
    assert result.returncode == 0, result.stderr
    with daemon:
        wait_until(lambda: [e for e in heard(log) if e["kind"] == "closed"], what="the close made while down")
    kinds = [e["kind"] for e in heard(log)]
    assert kinds.count("acknowledged") == 1 and kinds.count("closed") == 1


def test_events_of_a_process_killed_after_commit_reach_plugins_after_restart(tmp_path: Path) -> None:
    marker = tmp_path / "kill-once"
    marker.touch()
    daemon, db, log = event_daemon(tmp_path, ALERTD_TEST_KILL_ONCE=str(marker))
    daemon.start()
    try:
        # The plugin SIGKILLs the daemon on the first event it is handed, before recording it:
        # the alert is committed (the sender may or may not have had its 2xx by then).
        try:
            response = post_envelope(daemon, alarm())
            assert response.status_code == 200
        except httpx.TransportError:
            pass
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=20) == -signal.SIGKILL
        assert not marker.exists() and heard(log) == []
        [alert] = db.alerts()
        committed = [r["id"] for r in db.rows("SELECT id FROM alert_events WHERE alert_id = ?", (alert["id"],))]
        assert committed, "the alert's events were committed before the kill"

        daemon.start()
        # The restarted daemon hands on what the dead one never did, then goes on (the page).
        wait_until(lambda: any(e["kind"] == "notified" for e in heard(log)), what="the page after restart")
        every = {
            r["id"]: r["kind"] for r in db.rows("SELECT id, kind FROM alert_events WHERE alert_id = ?", (alert["id"],))
        }
        got = {e["id"]: e["kind"] for e in heard(log)}
        assert set(every) - set(got) == set(), f"events never heard: {every}, heard {got}"
        assert got[committed[0]] == "opened"
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=20) == 0
        # A clean stop saves the cursor: the next start hands nothing out twice.
        last = db.rows("SELECT MAX(id) AS m FROM alert_events")[0]["m"]
        assert db.rows("SELECT last_id FROM event_cursors WHERE name = 'dispatch'")[0]["last_id"] == last
    finally:
        daemon.kill()


async def test_the_dispatcher_waits_for_a_database_that_fails_as_it_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its first read (the saved cursor) fails: the loop logs, waits and reads again, and then
    dispatches as usual; it does not end (which took the daemon down with it)."""
    import sqlite3

    import trio

    from inprocess import in_process
    from sns_signing import headers_for

    config = sns_config(tmp_path)
    migrate(connect(tmp_path / "alertd.db"))
    with sqlite3.connect(tmp_path / "alertd.db") as conn:  # the cursor's table unreadable for a while
        conn.execute("ALTER TABLE event_cursors RENAME TO event_cursors_away")
    async with in_process(config) as app:
        await app.wait_until(
            lambda: any(r.getMessage() == "events.read_failed" for r in caplog.records), what="a failed first read"
        )
        with sqlite3.connect(tmp_path / "alertd.db") as conn:
            conn.execute("ALTER TABLE event_cursors_away RENAME TO event_cursors")
        hub = app.runtime.services["live_hub"]
        with hub.subscribe() as notices:
            message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
            envelope = notification(message)
            response = await app.post(
                f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
            )
            assert response.status_code == 200, response.text
            await app.advance(1.5)  # the loop's wait before it reads again
            with trio.fail_after(10):
                notice = json.loads(await notices.receive())
        assert notice["alerts"]
