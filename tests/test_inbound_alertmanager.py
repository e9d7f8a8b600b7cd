"""The alertmanager inbound type: recorded notifications in-process (one inbound-log row per
alert, group mode, bearer token, bad input), and a real Alertmanager delivering to a daemon."""

from __future__ import annotations

import copy
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertd.config import ConfigError, load_config
from alertd.plugins import make_manager
from externals import require_program
from helpers import ROOT, DaemonProcess, free_port, run_cli_in_process, wait_until, write_config
from inbound_fixtures import Db
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

SAMPLE = ROOT / "tests" / "samples" / "alertmanager" / "two-firing.json"
PER_ALERT = "am-per-alert-token-0123456789abcdef"
PER_GROUP = "am-per-group-token-0123456789abcdef"
BEARER = "bearer-for-alertmanager-0123456789"

INTEGRATIONS = f"""
[integrations.prom]
type = "alertmanager"
token = "{PER_ALERT}"
[integrations.prom.options]
bearer_token = "{BEARER}"

[integrations.promgroups]
type = "alertmanager"
token = "{PER_GROUP}"
[integrations.promgroups.options]
one_alert_per = "group"
"""
AUTH = {"Authorization": f"Bearer {BEARER}"}


def notification(**changes: Any) -> dict[str, Any]:
    payload = json.loads(SAMPLE.read_text())
    payload.update(changes)
    return payload


def resolved(payload: dict[str, Any], *indices: int) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    for i in indices:
        out["alerts"][i]["status"] = "resolved"
        out["alerts"][i]["endsAt"] = "2026-11-25T20:30:00.000Z"
    out["status"] = "resolved" if all(a["status"] == "resolved" for a in out["alerts"]) else "firing"
    return out


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, INTEGRATIONS)


async def test_each_alert_is_its_own_row_and_alert(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = notification()
    async with in_process(config) as app:
        r = await app.post(f"/in/{PER_ALERT}", json=payload, headers=AUTH)
        assert (r.status_code, r.text) == (200, "OK\n")
        # repeat_interval: the same group again, both alerts still firing.
        assert (await app.post(f"/in/{PER_ALERT}", json=payload, headers=AUTH)).status_code == 200
        # db1 recovers; db2 still fires (it appends again).
        assert (await app.post(f"/in/{PER_ALERT}", json=resolved(payload, 0), headers=AUTH)).status_code == 200
    rows = db.inbound()
    assert [(r["outcome"], r["message_type"]) for r in rows] == [
        ("Mapped Open", "alertmanager"),
        ("Mapped Open", "alertmanager"),
        ("Mapped Appended", "alertmanager"),
        ("Mapped Appended", "alertmanager"),
        ("Mapped Closed", "alertmanager"),
        ("Mapped Appended", "alertmanager"),
    ]
    # Each row holds its own alert (with the group's fields), not the whole notification.
    first = json.loads(rows[0]["body"])
    assert first["fingerprint"] == "1a2b3c4d5e6f7081" and first["groupKey"] == payload["groupKey"]
    assert "alerts" not in first
    assert json.loads(rows[0]["headers"])["authorization"] == "<not stored>"
    db1, db2 = db.alerts()
    assert (db1["source_id"], db1["status"], db2["source_id"], db2["status"]) == (
        "1a2b3c4d5e6f7081",
        "closed",
        "9f8e7d6c5b4a3921",
        "open",
    )
    assert (db1["title"], db1["description"], db1["severity"]) == (
        "Disk almost full on db1",
        "/var is 97% full",
        "warning",
    )
    assert (db2["title"], db2["severity"]) == ("Disk full on db2", "critical")
    assert db1["url"] == "http://prometheus.example:9090/graph?g0.expr=disk_used"
    fields = json.loads(db1["fields"])
    assert fields["instance"] == "db1:9100" and fields["alertname"] == "DiskFull"
    assert fields["labels"] == "alertname=DiskFull, instance=db1:9100, job=node, severity=warning"
    assert "namespace" not in fields  # an absent label is no field


async def test_group_key_mode_is_one_alert_per_group(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = notification()
    async with in_process(config) as app:
        for body in (payload, resolved(payload, 0), resolved(payload, 0, 1)):
            assert (await app.post(f"/in/{PER_GROUP}", json=body)).status_code == 200
    assert [r["outcome"] for r in db.inbound()] == ["Mapped Open", "Mapped Appended", "Mapped Closed"]
    (alert,) = db.alerts()
    assert (alert["source_id"], alert["title"], alert["status"]) == (payload["groupKey"], "DiskFull", "closed")
    # The stored body is the notification as received.
    assert json.loads(db.inbound()[0]["body"]) == payload


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({}, notification(), 401, "missing Authorization: Bearer header"),
        ({"Authorization": "Bearer wrong-token-0123456789"}, notification(), 403, "bearer token does not match"),
        (AUTH, notification(version="3"), 400, 'expected an Alertmanager webhook payload version "4"'),
        (AUTH, notification(alerts=[]), 400, "alerts is missing or empty"),
        (AUTH, notification(alerts=[{"status": "firing"}] * 1001), 400, "at most 1000"),
        (AUTH, notification(status="pending"), 400, "status is not firing or resolved"),
        (AUTH, notification(commonLabels={"a": 1}), 400, "commonLabels is not an object of strings"),
        (AUTH, "[1]", 400, "not an object (found list)"),
        (AUTH, "{" * 200, 400, "body is not acceptable JSON"),
    ],
    ids=["no-auth", "wrong-token", "version", "no-alerts", "too-many", "status", "labels", "array", "deep"],
)
async def test_bad_input_is_refused_with_one_row(
    config: Path, headers: dict[str, str], body: Any, status: int, reason: str
) -> None:
    db = Db(config.parent / "alertd.db")
    async with in_process(config) as app:
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        r = await app.post(f"/in/{PER_ALERT}", content=content, headers=headers)
    assert r.status_code == status and reason in r.text
    (row,) = db.inbound()
    assert (row["outcome"], row["status"]) == ("Rejected", status) and reason in row["reason"]
    assert db.alerts() == []


async def test_a_bad_alert_refuses_the_whole_notification(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = notification()
    del payload["alerts"][1]["fingerprint"]
    async with in_process(config) as app:
        r = await app.post(f"/in/{PER_ALERT}", json=payload, headers=AUTH)
    assert r.status_code == 400 and "alerts[1].fingerprint is missing" in r.text
    assert [row["outcome"] for row in db.inbound()] == ["Rejected"]
    assert db.alerts() == []


def test_dry_run_shows_each_alert(config: Path) -> None:
    out = run_cli_in_process("-c", str(config), "test-integration", "prom", str(SAMPLE))
    assert out.returncode == 0, out.stderr
    assert "--- message 1 of 2" in out.stdout and "--- message 2 of 2" in out.stdout
    assert out.stdout.count("outcome:     Mapped Open") == 2
    assert "title:       Disk full on db2" in out.stdout
    out = run_cli_in_process("-c", str(config), "test-integration", "prom", str(SAMPLE), "--json")
    result = json.loads(out.stdout)
    assert [m["source_id"] for m in result["messages"]] == ["1a2b3c4d5e6f7081", "9f8e7d6c5b4a3921"]


def test_bad_options_name_the_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, '[integrations.a]\ntype = "alertmanager"\n[integrations.a.options]\none_alert_per = "labels"\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"integrations\.a\.options\.one_alert_per: expected one of .alert. or .group.; found string .labels.",
    ):
        load_config(path, make_manager())


# --- a real Alertmanager ------------------------------------------------------------

AM_CONFIG = """
route:
  receiver: alertd
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: alertd
    webhook_configs:
      - url: "{url}"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: "{bearer}"
"""


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_real_alertmanager_opens_appends_and_closes(tmp_path: Path) -> None:
    program = require_program(["prometheus-alertmanager", "alertmanager"], "prometheus-alertmanager")
    config = write_config(tmp_path, INTEGRATIONS)
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config) as daemon:
        am_port = free_port()
        am_dir = tmp_path / "am"
        am_dir.mkdir()
        (am_dir / "alertmanager.yml").write_text(AM_CONFIG.format(url=f"{daemon.url}/in/{PER_ALERT}", bearer=BEARER))
        am = subprocess.Popen(
            [
                program,
                f"--config.file={am_dir / 'alertmanager.yml'}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(am_dir / "am.log").open("w"),
        )
        try:
            api = f"http://127.0.0.1:{am_port}/api/v2/alerts"
            wait_until(lambda: _up(f"http://127.0.0.1:{am_port}/-/ready"), timeout=30, what="alertmanager ready")
            start = datetime.now(UTC) - timedelta(seconds=5)
            alerts = [
                {
                    "labels": {"alertname": "DiskFull", "instance": host, "severity": severity},
                    "annotations": {"summary": f"Disk full on {host}", "description": "/var"},
                    "generatorURL": "http://prometheus.example:9090/graph",
                    "startsAt": _iso(start),
                    "endsAt": _iso(start + timedelta(hours=1)),
                }
                for host, severity in (("db1", "warning"), ("db2", "critical"))
            ]
            assert httpx.post(api, json=alerts, timeout=10).status_code == 200
            wait_until(lambda: len(db.alerts()) == 2, timeout=30, what="two alerts opened")
            # repeat_interval 2 s: Alertmanager sends the firing group again -> appended.
            wait_until(
                lambda: sum(r["outcome"] == "Mapped Appended" for r in db.inbound()) >= 2,
                timeout=30,
                what="a repeat notification appended",
            )
            assert len(db.alerts()) == 2
            # db1 ends: endsAt in the past resolves it.
            alerts[0]["endsAt"] = _iso(datetime.now(UTC) - timedelta(seconds=1))
            assert httpx.post(api, json=[alerts[0]], timeout=10).status_code == 200
            wait_until(lambda: [a["status"] for a in db.alerts()] == ["closed", "open"], timeout=30, what="db1 closed")
        finally:
            am.terminate()
            am.wait(timeout=10)
    rows = db.inbound()
    assert {r["outcome"] for r in rows} <= {"Mapped Open", "Mapped Appended", "Mapped Closed"}, rows
    assert [r["outcome"] for r in rows].count("Mapped Open") == 2
    db1, db2 = db.alerts()
    assert (db1["title"], db1["severity"], db2["title"], db2["severity"]) == (
        "Disk full on db1",
        "warning",
        "Disk full on db2",
        "critical",
    )
    assert json.loads(db1["fields"])["instance"] == "db1"
    assert db1["url"] == "http://prometheus.example:9090/graph"


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def test_counted_alerts_of_a_notification_are_one_metrics_series(tmp_path: Path) -> None:
    """Each alert of a notification below a rule's threshold is "Counted (k of n)" in the inbound
    log, and one "Counted" series in /metrics, as for single messages (a label value per k would
    grow the series without bound)."""
    integration = f"""
[integrations.prom]
type = "alertmanager"
token = "{PER_ALERT}"
ruleset = "alertmanager"
[integrations.prom.options]
bearer_token = "{BEARER}"
[integrations.prom.rules]
threshold = {{ count = 5, within = "10m" }}
"""
    config = write_config(tmp_path, integration)
    series = 'alertd_inbound_messages_total{integration="prom",outcome="Counted"} '

    def counted(metrics: str) -> float:  # (the registry is the process's: earlier tests count too)
        return sum(float(line[len(series) :]) for line in metrics.splitlines() if line.startswith(series))

    async with in_process(config) as app:
        before = counted((await app.get("/metrics")).text)
        r = await app.post(f"/in/{PER_ALERT}", json=notification(), headers=AUTH)
        assert (r.status_code, r.text) == (200, "OK\n")
        outcomes = [row["outcome"] for row in Db(tmp_path / "alertd.db").inbound()]
        metrics = (await app.get("/metrics")).text
    assert len(outcomes) == 2 and all(o.startswith("Counted (") for o in outcomes), outcomes
    assert counted(metrics) - before == 2
    assert "Counted (" not in metrics


async def test_a_window_added_beside_the_daemon_applies_to_the_next_notification(config: Path) -> None:
    """A batch finds its messages' maintenance window in the daemon's copy in memory, like a single
    message (maintenance_windows.WindowCache); a window committed by another connection (the CLI)
    applies to the next notification."""
    db = Db(config.parent / "alertd.db")
    payload = notification()
    async with in_process(config) as app:
        assert (await app.post(f"/in/{PER_ALERT}", json=payload, headers=AUTH)).status_code == 200
        added = await app.off_loop(
            run_cli_in_process, "maintenance", "add", "--integration", "prom", "--for", "1h", "--reason", "x",
            "-c", str(config),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert (await app.post(f"/in/{PER_ALERT}", json=payload, headers=AUTH)).status_code == 200
    rows = db.rows("SELECT outcome, maintenance_id FROM inbound_log ORDER BY id")
    (window,) = db.rows("SELECT id FROM maintenance_windows")
    assert [(r["outcome"], r["maintenance_id"]) for r in rows] == [
        ("Mapped Open", None),
        ("Mapped Open", None),
        ("Mapped Appended", window["id"]),
        ("Mapped Appended", window["id"]),
    ]
