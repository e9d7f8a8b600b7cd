"""``alertd migrate-store``: a SQLite deployment with real history copied into PostgreSQL, then
served from there (in-process); failures leave the target empty; bad input is one line, exit 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from alertd.store import postgres
from helpers import run_cli_in_process
from inbound_fixtures import TOKEN
from inprocess import InProcess, in_process
from postgres import PgServer
from sns_signing import headers_for, notification, sample_envelope
from web_fixtures import DELAY_MIN, PASSWORD, alarm_envelope, csrf_of, set_passwords, web_config

API_TOKEN = "migrate-store-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def pg_rows(url: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    db = postgres.connect(url)
    try:
        return [dict(r) for r in db.execute(sql, params or [])]
    finally:
        db.close()


def ok_envelope(name: str) -> dict:
    _headers, body = sample_envelope("sns-cloudwatch-alarm-OK.json")
    return notification(body["Message"].replace("ConsoleSignInFailures", name))


async def deliver(app: InProcess, envelope: dict) -> None:
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text


async def alert_view(app: InProcess, alert_id: int) -> dict[str, Any]:
    response = await app.get(f"/api/v1/alerts/{alert_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    data = response.json()
    return {
        "status": data["status"],
        "title": data["title"],
        "timeline": [(e["id"], e["kind"], e.get("actor")) for e in data["timeline"]],
        "notifications": len(data.get("notifications", [])),
    }


async def build_history(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A SQLite deployment after a night's work: an alert paged and still open, one acknowledged,
    one closed; a console session; the inbound log with the bodies. (config, what the API showed)."""
    config = web_config(tmp_path, server=f'api_tokens = ["{API_TOKEN}"]')
    set_passwords(tmp_path / "alertd.db")
    history: dict[str, Any] = {}
    async with in_process(config) as app:
        form = await app.get("/login")
        login = await app.post(
            "/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/alerts"}
        )
        assert login.status_code == 303, login.text
        history["session"] = login.headers["set-cookie"].split("alertd_session=", 1)[1].split(";", 1)[0]
        history["open_envelope"] = alarm_envelope("disk-full")
        await deliver(app, history["open_envelope"])
        await deliver(app, alarm_envelope("cpu-high"))
        await deliver(app, alarm_envelope("mem-low"))
        await deliver(app, ok_envelope("mem-low"))
        alerts = (await app.get("/api/v1/alerts", headers=AUTH)).json()
        assert len(alerts) == 3, alerts
        assert sorted(a["status"] for a in alerts) == ["closed", "open", "open"]
        cpu = max(a["id"] for a in alerts if a["status"] == "open")
        acked = await app.post(f"/api/v1/alerts/{cpu}/ack", json={"user": "bob"}, headers=AUTH)
        assert acked.status_code == 200, acked.text
        await app.wait_until(
            lambda: sqlite3.connect(tmp_path / "alertd.db").execute("SELECT COUNT(*) FROM outbox").fetchone()[0] > 0,
            what="a page in the outbox",
        )
        await app.advance(60)
        # Every page sent (and its `notified` event written) before the views are taken: a page
        # still pending would be sent, and its event added, by the daemon on PostgreSQL.
        await app.wait_until(
            lambda: (
                sqlite3.connect(tmp_path / "alertd.db")
                .execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
                .fetchone()[0]
                == 0
            ),
            what="every page sent",
        )
        history["views"] = {a["id"]: await alert_view(app, a["id"]) for a in alerts}
    return config, history


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


async def test_a_sqlite_deployment_is_served_from_postgresql_after_migrate_store(
    tmp_path: Path, pg_server: PgServer
) -> None:
    config, history = await build_history(tmp_path)
    db_path = tmp_path / "alertd.db"
    before = counts(db_path)
    assert before["inbound_log"] == 4 and before["alert_events"] > 3 and before["outbox"] > 0
    url = pg_server.empty_database()  # not even the schema: migrate-store creates it

    done = run_cli_in_process("migrate-store", "--from", str(db_path), "--to", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["table", "rows"] and "rows in PostgreSQL" in lines[0]
    shown = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(shown) == set(before)  # every table, read from the database
    for table, n in before.items():
        assert shown[table][1:3] == [str(n), str(n)] and shown[table][-1] == "ok", shown[table]
    assert lines[-1].startswith(f"copied {sum(before.values())} rows in {len(before)} tables")
    bodies = pg_rows(url, "SELECT body FROM inbound_log ORDER BY id")
    assert json.loads(bytes(bodies[0]["body"]))["MessageId"] == history["open_envelope"]["MessageId"]

    pg_config = tmp_path / "pg.toml"
    pg_config.write_text(config.read_text().replace(f'path = "{db_path}"', f'url = "{url}"'))
    assert f'url = "{url}"' in pg_config.read_text()
    db_path.rename(tmp_path / "moved-away.db")  # nothing may be read from the SQLite file any more
    async with in_process(pg_config) as app:
        for alert_id, view in history["views"].items():
            assert await alert_view(app, alert_id) == view
        open_id = min(i for i, v in history["views"].items() if v["status"] == "open")
        # Alice's console session goes on.
        app.client.cookies.set("alertd_session", history["session"])
        page = await app.get("/alerts")
        assert page.status_code == 200 and "disk-full" in page.text
        # The open alert's escalation plan goes on: its next level pages from PostgreSQL.
        pages = "SELECT COUNT(*) AS n FROM outbox WHERE alert_id = ?"
        paged = pg_rows(url, pages, [open_id])[0]["n"]
        await app.advance(DELAY_MIN * 60 + 30)
        await app.wait_until(lambda: pg_rows(url, pages, [open_id])[0]["n"] > paged, what="the next level paged")
        acked = await app.post(f"/api/v1/alerts/{open_id}/ack", json={"user": "alice"}, headers=AUTH)
        assert acked.status_code == 200, acked.text
        assert (await alert_view(app, open_id))["status"] == "acknowledged"
        await deliver(app, history["open_envelope"])  # SNS redelivers the first message
        last = pg_rows(url, "SELECT outcome FROM inbound_log ORDER BY id DESC LIMIT 1")
        assert last == [{"outcome": "Duplicate Delivery"}]
        await deliver(app, alarm_envelope("brand-new"))
        newest = pg_rows(url, "SELECT id FROM alerts ORDER BY id DESC LIMIT 1")[0]["id"]
        assert newest == max(history["views"]) + 1  # the identity continues after the copied ids
        events = pg_rows(url, "SELECT MIN(id) AS first FROM alert_events WHERE alert_id = ?", [newest])
        copied_events = max(e[0] for v in history["views"].values() for e in v["timeline"])
        assert events[0]["first"] > copied_events


def make_source(tmp_path: Path, version: int | None = None) -> Path:
    """A small alertd database with a few rows (no daemon): alerts and their timeline."""
    from alertd.store import connect, write_transaction
    from alertd.store.schema import SCHEMA_VERSION, migrate

    path = tmp_path / "small.db"
    db = connect(path)
    migrate(db, SCHEMA_VERSION if version is None else version)
    with write_transaction(db):
        for i in (1, 2, 3):
            db.execute(
                "INSERT INTO alerts (integration, source_id, status, title, severity, tags, fields, created_at, "
                "updated_at) VALUES ('alarms', ?, 'open', ?, 'critical', '[]', '{}', 1.0, 1.0)",
                [f"src-{i}", f"alert {i}"],
            )
            db.execute(
                "INSERT INTO alert_events (alert_id, at, kind, actor, via, detail) VALUES (?, 1.0, 'opened', "
                "'alarms', 'source', '{}')",
                [i],
            )
    db.conn.close()
    return path


def target_rows(url: str) -> int:
    return pg_rows(url, "SELECT (SELECT COUNT(*) FROM alerts) + (SELECT COUNT(*) FROM alert_events) AS n")[0]["n"]


def test_a_failure_mid_copy_leaves_the_target_empty(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    db = postgres.connect(pg_url)
    db.execute("ALTER TABLE alert_events ADD CONSTRAINT refuses_the_third CHECK (alert_id <> 3)")
    db.close()
    seeds = "SELECT (SELECT COUNT(*) FROM schema_version) AS versions, (SELECT COUNT(*) FROM event_cursors) AS cursors"
    before = pg_rows(pg_url, seeds)
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: copy into ") and "nothing was kept" in line and "refuses_the_third" in line
    assert target_rows(pg_url) == 0  # the alerts copied before the failing table are gone too
    assert pg_rows(pg_url, seeds) == before  # the migration's own rows as they were


def test_a_target_holding_data_is_refused(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    assert run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url).returncode == 0
    again = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        "Error: the target already holds data (table alert_events); give an empty database"
    ]
    assert target_rows(pg_url) == 6


def test_an_unreachable_target_is_one_line_without_the_password(tmp_path: Path) -> None:
    from helpers import free_port

    source = make_source(tmp_path)
    url = f"postgresql://alertd:s3cret-pw@127.0.0.1:{free_port()}/alertd"
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", url)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "cannot connect to postgresql://alertd:***@127.0.0.1" in line and "s3cret" not in line + done.stdout


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "missing.db", "missing.db: no such file"),
        (lambda p: (p / "junk.db").write_bytes(b"not sqlite at all" * 10) and p / "junk.db", "not a SQLite database"),
        (lambda p: p, "a directory, not a database file"),
    ],
)
def test_a_bad_source_is_one_line(tmp_path: Path, make: Any, words: str) -> None:
    done = run_cli_in_process("migrate-store", "--from", str(make(tmp_path)), "--to", "postgresql://u@127.0.0.1:1/d")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


def test_a_sqlite_database_of_another_application_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.commit()
    conn.close()
    done = run_cli_in_process("migrate-store", "--from", str(other), "--to", "postgresql://u@127.0.0.1:1/d")
    assert done.returncode == 2 and "not an alertd database" in done.stderr, done.stderr
    conn = sqlite3.connect(other)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["notes"]  # left untouched
    conn.close()


def test_a_source_newer_than_this_alertd_is_refused(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO schema_version VALUES ((SELECT MAX(version) + 1 FROM schema_version), 'future', 0)")
    conn.commit()
    conn.close()
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", "postgresql://u@127.0.0.1:1/d")
    assert done.returncode == 2 and "newer than this alertd" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "x" * 5000, "--to", "postgresql://u@h/d"], "a path of at most 4096 characters"),
        (["--from", "a.db", "--to", "mysql://u:pw@h/d"], "a URL starting with postgresql://"),
        (["--from", "a.db", "--to", "postgresql://u:pw@h/" + "d" * 3000], "at most 2048 characters"),
        (["--from", "a.db", "--to", "postgresql://u:pw@h:99999/d"], "the port must be a number"),
    ],
)
def test_bad_arguments_are_refused(args: list[str], words: str) -> None:
    done = run_cli_in_process("migrate-store", *args)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "pw" not in done.stderr.replace("postgresql://", "")  # the URL is never echoed


def test_rows_the_target_loses_are_a_mismatch_and_nothing_is_kept(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    db = postgres.connect(pg_url)
    # A trigger that silently drops one row: the COPY succeeds, the counts do not match.
    db.execute(
        "CREATE FUNCTION drop_one() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.alert_id = 2 THEN RETURN NULL; END IF; RETURN NEW; END $$"
    )
    db.execute("CREATE TRIGGER drop_one BEFORE INSERT ON alert_events FOR EACH ROW EXECUTE FUNCTION drop_one()")
    db.close()
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 2
    [events] = [line.split() for line in done.stdout.splitlines() if line.startswith("alert_events ")]
    assert events[1:3] == ["3", "2"] and events[-1] == "MISMATCH"
    assert done.stderr.splitlines() == [f"Error: counts differ for alert_events; nothing was kept in {pg_url}"]
    assert target_rows(pg_url) == 0


def test_a_source_whose_write_lock_is_held_is_refused(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    daemon = sqlite3.connect(source, isolation_level=None)
    daemon.execute("BEGIN IMMEDIATE")  # as a running daemon's writer, in the middle of a batch
    try:
        done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    finally:
        daemon.execute("ROLLBACK")
        daemon.close()
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "is busy (is a daemon still running on it?)" in line
    assert target_rows(pg_url) == 0


def add_instance(source: Path, host: str, pid: int, namespace: str, seen_ago: float) -> None:
    import time

    with sqlite3.connect(source) as conn:
        conn.execute(
            "INSERT INTO instances (id, host, pid, pid_namespace, version, config_hash, started_at, last_seen) "
            "VALUES (?, ?, ?, ?, 'x', 'h', ?, ?)",
            [f"{host}-{pid}", host, pid, namespace, time.time() - 3600, time.time() - seen_ago],
        )


def test_a_daemon_still_running_on_the_source_is_refused(tmp_path: Path, pg_url: str) -> None:
    """An idle daemon holds no write lock: its instance row tells that it runs (here: this test's own
    process on this host, or a row another host renewed 10 s ago); a killed daemon's row does not block."""
    import os
    import socket

    from alertd.instances import pid_namespace

    host, namespace = socket.gethostname(), pid_namespace()
    for others in ([(host, os.getpid(), namespace, 7200.0)], [("other-host", 4242, "ns", 10.0)]):
        source = make_source(tmp_path / f"{others[0][0]}")
        for other in others:
            add_instance(source, *other)
        done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
        assert done.returncode == 2, done.stdout
        [line] = done.stderr.splitlines()
        assert "a daemon is still running on the SQLite database" in line and others[0][0] in line
        assert target_rows(pg_url) == 0
    source = make_source(tmp_path / "killed")
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    add_instance(source, host, dead, namespace, 5.0)  # this host, its process gone (kill -9)
    add_instance(source, "other-host", 4242, "ns", 3600.0)  # another host, not seen for an hour
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 0, done.stderr


def test_the_target_url_may_come_from_the_environment(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    bad = run_cli_in_process("migrate-store", "--from", str(source), env={"ALERTD_MIGRATE_TO": "mysql://u:pw@h/d"})
    assert bad.returncode == 2 and "a URL starting with postgresql://" in bad.stderr and "pw" not in bad.stderr
    done = run_cli_in_process("migrate-store", "--from", str(source), env={"ALERTD_MIGRATE_TO": pg_url})
    assert done.returncode == 0, done.stderr
    assert target_rows(pg_url) == 6


def test_an_older_source_is_brought_to_the_current_schema_first(tmp_path: Path, pg_url: str) -> None:
    from alertd.store.schema import SCHEMA_VERSION

    source = make_source(tmp_path, version=SCHEMA_VERSION - 1)  # as an alertd one version older left it
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(source)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    versions = pg_rows(pg_url, "SELECT MAX(version) AS v, COUNT(*) AS n FROM schema_version")
    assert versions == [{"v": SCHEMA_VERSION, "n": SCHEMA_VERSION}]
    assert target_rows(pg_url) == 6


def test_a_target_newer_than_this_alertd_is_refused(tmp_path: Path, pg_url: str) -> None:
    source = make_source(tmp_path)
    db = postgres.connect(pg_url)
    db.execute("INSERT INTO schema_version SELECT MAX(version) + 1, 'future', 0 FROM schema_version")
    db.close()
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"{pg_url}: database schema version" in line and "newer than this alertd" in line
    assert target_rows(pg_url) == 0


def test_the_copy_keeps_inbound_alert_ids_and_runs_no_schema_trigger(tmp_path: Path, pg_url: str) -> None:
    """Migration 22's trigger (an alert's insert sets its opening inbound-log row's alert_id) stays
    off while rows are copied: the rows already hold its effect, so the copy keeps the source's
    values whatever the table order. Its function is wrapped here to count its calls."""
    source = make_source(tmp_path)
    conn = sqlite3.connect(source)
    with conn:
        for i in (1, 2, 3):
            conn.execute(
                "INSERT INTO inbound_log (id, received_at, integration, method, headers, body, body_size, outcome, "
                "status, accepted) VALUES (?, 1.0, 'alarms', 'POST', '{}', x'7b7d', 2, 'Mapped Open', 200, 1)",
                [10 + i],
            )
        # Two opening messages, the alerts naming them (SQLite's trigger links them), and one row
        # whose alert_id differs from what the trigger would write: it must arrive as it is.
        for n, first in ((4, 11), (5, 12)):
            conn.execute(
                "INSERT INTO alerts (id, integration, source_id, status, title, severity, tags, fields, created_at, "
                "updated_at, first_inbound_id) VALUES (?, 'alarms', ?, 'open', 't', 'critical', '[]', '{}', 1.0, "
                "1.0, ?)",
                [n, f"src-{n}", first],
            )
        conn.execute("UPDATE inbound_log SET alert_id = 1 WHERE id = 12")
    source_ids = [tuple(r) for r in conn.execute("SELECT id, alert_id FROM inbound_log ORDER BY id")]
    conn.close()
    assert source_ids == [(11, 4), (12, 1), (13, None)]

    db = postgres.connect(pg_url)
    db.execute("CREATE TABLE trigger_calls (alert_id BIGINT)")
    db.execute(
        "CREATE OR REPLACE FUNCTION inbound_log_opened_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO trigger_calls VALUES (NEW.id); "
        "UPDATE inbound_log SET alert_id = NEW.id WHERE id = NEW.first_inbound_id; RETURN NULL; END $$"
    )
    db.close()
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    copied = [(r["id"], r["alert_id"]) for r in pg_rows(pg_url, "SELECT id, alert_id FROM inbound_log ORDER BY id")]
    assert copied == source_ids
    assert pg_rows(pg_url, "SELECT alert_id FROM trigger_calls") == []

    # Switched on again for the daemon: a new opening message gets its alert's id.
    db = postgres.connect(pg_url)
    db.execute(
        "INSERT INTO inbound_log (id, received_at, integration, method, headers, body, body_size, outcome, status, "
        "accepted) VALUES (14, 2.0, 'alarms', 'POST', '{}', '\\x7b7d', 2, 'Mapped Open', 200, 1)"
    )
    db.execute(
        "INSERT INTO alerts (integration, source_id, status, title, severity, tags, fields, created_at, updated_at, "
        "first_inbound_id) VALUES ('alarms', 'src-new', 'open', 't', 'critical', '[]', '{}', 2.0, 2.0, 14)"
    )
    db.close()
    assert pg_rows(pg_url, "SELECT alert_id FROM inbound_log WHERE id = 14") == [{"alert_id": 6}]
    assert pg_rows(pg_url, "SELECT alert_id FROM trigger_calls") == [{"alert_id": 6}]


def test_the_copy_keeps_the_maintenance_windows_generation(tmp_path: Path, pg_url: str) -> None:
    """PostgreSQL's trigger that counts changes to maintenance_windows (one, named otherwise than
    SQLite's three) stays off for the copy too: the target's counter is the source's, and counts
    again afterwards. Its function is wrapped here to count its calls (the table order alone
    may hide a bump: table_generations is copied whole)."""
    source = make_source(tmp_path)
    conn = sqlite3.connect(source)
    with conn:
        for n in (1, 2):
            conn.execute(
                "INSERT INTO maintenance_windows (integrations, starts_at, ends_at, on_end, created_by, created_at) "
                "VALUES ('[]', 1.0, ?, 'quiet', 'cli:root', 1.0)",
                [100.0 * n],
            )
        conn.execute("UPDATE maintenance_windows SET reason = 'deploy'")
    [(generation,)] = conn.execute("SELECT generation FROM table_generations WHERE name = 'maintenance_windows'")
    conn.close()
    assert generation == 4  # SQLite counts per row: two inserts, two updates

    db = postgres.connect(pg_url)
    db.execute("CREATE TABLE trigger_calls (n INT)")
    db.execute(
        "CREATE OR REPLACE FUNCTION maintenance_windows_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO trigger_calls VALUES (1); UPDATE table_generations SET generation = generation + 1 "
        "WHERE name = 'maintenance_windows'; RETURN NULL; END $$"
    )
    db.close()
    done = run_cli_in_process("migrate-store", "--from", str(source), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    counter = "SELECT generation FROM table_generations WHERE name = 'maintenance_windows'"
    assert pg_rows(pg_url, counter) == [{"generation": 4}]
    assert pg_rows(pg_url, "SELECT n FROM trigger_calls") == []
    db = postgres.connect(pg_url)
    db.execute("UPDATE maintenance_windows SET reason = 'over'")
    db.close()
    assert pg_rows(pg_url, counter) == [{"generation": 5}]
    assert pg_rows(pg_url, "SELECT n FROM trigger_calls") == [{"n": 1}]
