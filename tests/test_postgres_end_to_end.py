"""alertd on PostgreSQL (``[store] url``), end to end: the core path in-process, and the daemon
process itself (starts, answers /readyz, answers 503 while PostgreSQL is down and takes the
SNS retry once it is back).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from alertd.store import postgres
from helpers import ROOT, DaemonProcess, run_cli, wait_until
from inbound_fixtures import TOKEN, sample_message, sns_config
from inprocess import in_process
from postgres import PgServer, find_bindir
from sns_signing import headers_for, notification

PEOPLE = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[channels.recorder]
path = "{{sent}}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.page]
[[escalation_policies.page.levels]]
users = ["alice"]
"""


def pg_config(tmp_path: Path, url: str) -> tuple[Path, Path]:
    """An SNS config whose store is the PostgreSQL database at ``url``; (config, sends file)."""
    sent = tmp_path / "sent.jsonl"
    config = sns_config(tmp_path, "", alarms='escalation_policy = "page"')
    text = config.read_text()
    text = text.replace(f'path = "{tmp_path / "alertd.db"}"', f'url = "{url}"')
    config.write_text(PEOPLE.replace("{sent}", str(sent)) + text)
    assert f'url = "{url}"' in config.read_text()
    return config, sent


def sends(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rows(url: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    db = postgres.connect(url)
    try:
        return [dict(r) for r in db.execute(sql, params or [])]
    finally:
        db.close()


def envelope_of(sample: str, message_id: str | None = None) -> dict:
    message, _, _ = sample_message(sample)
    return notification(message, message_id=message_id)


async def test_the_core_path_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    config, sent = pg_config(tmp_path, pg_url)
    assert not (tmp_path / "alertd.db").exists()
    async with in_process(config) as app:

        async def post(envelope: dict) -> httpx.Response:
            body = json.dumps(envelope).encode()
            return await app.post(f"/in/{TOKEN}", content=body, headers=headers_for(envelope))

        def outcomes() -> list[str]:
            return [r["outcome"] for r in rows(pg_url, "SELECT outcome FROM inbound_log ORDER BY id")]

        assert (await app.get("/readyz")).text == "ready\n"
        alarm = envelope_of("sns-cloudwatch-alarm-ALARM.json")
        assert (await post(alarm)).status_code == 200
        [alert] = rows(pg_url, "SELECT * FROM alerts")
        assert (alert["status"], outcomes()) == ("open", ["Mapped Open"])
        await app.wait_until(lambda: len(sends(sent)) == 1, what="the escalation page to alice")
        assert sends(sent)[0]["user"] == "alice"
        await app.wait_until(
            lambda: [r["status"] for r in rows(pg_url, "SELECT status FROM outbox")] == ["sent"], what="outbox row sent"
        )
        assert (await post(envelope_of("sns-cloudwatch-alarm-ALARM-repeat.json"))).status_code == 200
        assert (await post(alarm)).status_code == 200  # SNS redelivers the same MessageId
        assert outcomes() == ["Mapped Open", "Mapped Appended", "Duplicate Delivery"]
        assert rows(pg_url, "SELECT append_count FROM alerts") == [{"append_count": 1}]
        assert (await post(envelope_of("sns-cloudwatch-alarm-OK.json"))).status_code == 200
        assert outcomes()[-1] == "Mapped Closed"
        assert [r["status"] for r in rows(pg_url, "SELECT status FROM alerts")] == ["closed"]
        kinds = [r["kind"] for r in rows(pg_url, "SELECT kind FROM alert_events ORDER BY id")]
        assert kinds[0] == "opened" and kinds[-1] == "closed" and "appended" in kinds
        api = await app.get(f"/api/v1/alerts/{alert['id']}", headers={"Authorization": "Bearer x"})
        assert api.status_code in (200, 401, 403)  # the API reads through the pool (auth aside)
    assert len(sends(sent)) == 1  # paged once
    assert not (tmp_path / "alertd.db").exists()  # nothing went to a SQLite file


def test_the_daemon_on_postgresql_answers_503_while_it_is_down_and_takes_the_retry(tmp_path: Path) -> None:
    # A server of its own: this test stops it.
    server = PgServer(find_bindir())
    try:
        server.start()
        server.admin("CREATE DATABASE d")
        url = server.url("d")
        config, _sent = pg_config(tmp_path, url)
        config.write_text(config.read_text().replace(f'url = "{url}"', f'url = "{url}"\nbusy_timeout_seconds = 2'))
        with DaemonProcess(config) as daemon:
            assert daemon.get("/readyz").status_code == 200
            alarm = envelope_of("sns-cloudwatch-alarm-ALARM.json")
            body = json.dumps(alarm).encode()
            server.stop()
            refused = daemon.post(f"/in/{TOKEN}", content=body, headers=headers_for(alarm))
            assert refused.status_code == 503, refused.text
            wait_until(lambda: daemon.get("/readyz").status_code == 503, timeout=10, what="/readyz failing")
            assert "database unreachable" in daemon.get("/readyz").text
            server.start()
            # SNS retries the same delivery: once the database is back it is taken, once.
            wait_until(
                lambda: daemon.post(f"/in/{TOKEN}", content=body, headers=headers_for(alarm)).status_code == 200,
                timeout=30,
                what="the retried delivery accepted",
            )
            assert daemon.get("/readyz").status_code == 200
            logged = rows(url, "SELECT outcome FROM inbound_log WHERE accepted = 1")
            assert logged == [{"outcome": "Mapped Open"}]
            assert [r["status"] for r in rows(url, "SELECT status FROM alerts")] == ["open"]
        # The CLI on the same url: list, acknowledge, close, the inbound log.
        listed = run_cli("alerts", "-c", str(config))
        assert listed.returncode == 0 and "open" in listed.stdout, listed.stderr
        [alert] = rows(url, "SELECT id FROM alerts")
        for command in ("ack", "close"):
            done = run_cli(command, str(alert["id"]), "--user", "alice", "-c", str(config))
            assert done.returncode == 0, done.stderr
        assert [r["status"] for r in rows(url, "SELECT status FROM alerts")] == ["closed"]
        log = run_cli("inbound-log", "-c", str(config))
        assert log.returncode == 0 and "Mapped Open" in log.stdout, log.stderr
        assert not (tmp_path / "alertd.db").exists()
        refused_backup = run_cli("backup", str(tmp_path / "copy.db"), "-c", str(config))
        assert refused_backup.returncode == 2
        assert refused_backup.stderr.strip().endswith("use pg_dump (e.g. pg_dump -Fc)")
    finally:
        server.cleanup()


async def test_every_console_page_and_api_read_answers_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """A sweep of the read side on PostgreSQL: each console page and each GET route of the
    OpenAPI document (path parameters filled with existing rows) answers 200."""
    import re
    import time

    from alertd.commands import run_alert_action
    from alertd.web.auth import hash_password, set_password
    from web_fixtures import EXTRAS, PASSWORD, alarm_request, csrf_of, web_config

    api_token = "api-read-token-0123456789abcdef0123456789"
    beat_token = "heartbeat-test-token-0123456789abcdef"
    extras = EXTRAS.replace("[heartbeats.nightly-backup]\n", f'[heartbeats.nightly-backup]\ntoken = "{beat_token}"\n')
    config = web_config(tmp_path, extras, server=f'api_tokens = ["{api_token}"]')
    config.write_text(config.read_text().replace(f'path = "{tmp_path / "alertd.db"}"', f'url = "{pg_url}"'))
    db = postgres.connect(pg_url)
    with db.transaction():
        set_password(db, "alice", hash_password(PASSWORD), time.time())
    db.close()
    auth = {"Authorization": f"Bearer {api_token}"}
    async with in_process(config) as app:
        for name in ("first", "second"):
            body, headers = alarm_request(name)
            assert (await app.post(f"/in/{TOKEN}", content=body, headers=headers)).status_code == 200
        alert_id, other_id = [r["id"] for r in rows(pg_url, "SELECT id FROM alerts ORDER BY id")]
        # Every alert action, as the API and the CLI run them.
        steps: list[tuple[str, int, dict[str, Any]]] = [
            ("ack", alert_id, {}),
            ("unack", alert_id, {}),
            ("snooze", alert_id, {"seconds": 600}),
            ("unack", alert_id, {}),
            ("escalate", alert_id, {}),
            ("reassign", alert_id, {"policy": "ops"}),
            ("note", alert_id, {"text": "looking"}),
            ("merge", other_id, {"into": alert_id}),
        ]
        for action, target, args in steps:
            await run_alert_action(app.runtime, action, target, actor="alice", via="api", **args)
        # A heartbeat ping and a maintenance window, through their HTTP routes.
        assert (await app.post(f"/hb/{beat_token}", content=b"backup ok")).status_code == 200
        assert rows(pg_url, "SELECT state, ping_count FROM heartbeats") == [{"state": "up", "ping_count": 1}]
        window = {"integrations": ["alarms"], "reason": "db upgrade", "duration_minutes": 30}
        added = await app.post("/api/v1/maintenance", json=window, headers=auth)
        assert added.status_code in (200, 201), added.text
        ended = await app.post(f"/api/v1/maintenance/{added.json()['id']}/end", headers=auth)
        assert ended.status_code == 200, ended.text
        kinds = {r["kind"] for r in rows(pg_url, "SELECT kind FROM alert_events WHERE alert_id = ?", [alert_id])}
        assert {"acknowledged", "unacknowledged", "snoozed", "reassigned", "note_added", "duplicate_merged"} <= kinds
        assert rows(pg_url, "SELECT status, merged_into FROM alerts WHERE id = ?", [other_id]) == [
            {"status": "closed", "merged_into": alert_id}
        ]
        values = {
            "alert_id": alert_id,
            "id": alert_id,
            "inbound_id": rows(pg_url, "SELECT MIN(id) AS id FROM inbound_log")[0]["id"],
            "name": "alarms",
            "integration": "alarms",
            "schedule": "primary",
            "user": "alice",
            "policy": "ops",
            "workflow": "raise-on-open",
            "heartbeat": "nightly-backup",
        }
        spec = (await app.get("/api/v1/openapi.json", headers=auth)).json()
        checked = 0
        for path, operations in spec["paths"].items():
            if "get" not in operations:
                continue
            names = re.findall(r"\{(\w+)\}", path)
            if any(n not in values for n in names):
                continue
            url = path
            named = {
                "heartbeats": "nightly-backup",
                "workflows": "raise-on-open",
                "schedules": "primary",
                "users": "alice",
                "escalation-policies": "ops",
            }
            for n in names:
                value = values[n]
                if n == "name":
                    value = next((v for k, v in named.items() if f"/{k}/" in path), value)
                url = url.replace("{" + n + "}", str(value))
            response = await app.get(url, headers=auth)
            assert response.status_code == 200, (url, response.text[:300])
            checked += 1
        assert checked >= 10
        form = await app.get("/login")
        login = await app.post(
            "/login", data={"user": "alice", "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/alerts"}
        )
        assert login.status_code == 303, login.text
        pages = [
            "/alerts",
            "/alerts?status=open",
            f"/alerts/{alert_id}",
            "/alerts?q=first",
            "/inbound",
            f"/inbound/{values['inbound_id']}",
            "/inbound?outcome=mapped-open",
            "/integrations",
            "/heartbeats",
            "/maintenance",
            "/oncall",
            "/oncall/primary?days=7",
            "/people",
            "/people/alice",
            "/workflows",
        ]
        for page in pages:
            response = await app.get(page)
            assert response.status_code == 200, (page, response.text[:300])
        assert "first" in (await app.get("/alerts?q=first")).text
