"""``alertd backup FILE``: a consistent, verified copy while the daemon is under load; bounds on FILE."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from pathlib import Path

import httpx

from helpers import DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import headers_for, notification

POLICY = """
[users.alice]
contact = { email = "alice@example.com" }
[escalation_policies.security]
[[escalation_policies.security.levels]]
users = ["alice"]
delay_minutes = 30
"""


def config_with_policy(tmp_path: Path) -> Path:
    config = sns_config(tmp_path, POLICY)
    head = '[integrations.alarms]\ntype = "aws_sns"'
    config.write_text(config.read_text().replace(head, head + '\nescalation_policy = "security"'))
    return config


class Load(threading.Thread):
    """Signed SNS notifications as fast as one connection goes: alarms opening, repeating, closing."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.template = sample_message("sns-cloudwatch-alarm-ALARM.json")[0]

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                alarm, state = f"Backup{i % 7}", ("ALARM", "ALARM", "OK")[i % 3]
                message = self.template.replace("ConsoleSignInFailures", alarm).replace(
                    '"NewStateValue": "ALARM"', f'"NewStateValue": "{state}"'
                )
                envelope = notification(message, message_id=str(uuid.uuid4()))
                response = client.post(
                    f"{self.url}/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
                )
                self.statuses.append(response.status_code)
                i += 1


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_backup_while_the_daemon_is_under_load_is_consistent(tmp_path: Path) -> None:
    config = config_with_policy(tmp_path)
    with DaemonProcess(config) as daemon:
        load = Load(daemon.url)
        load.start()
        try:
            copies = []
            for n in range(3):
                before = len(load.statuses)
                wait_until(lambda before=before: len(load.statuses) >= before + 30, timeout=60, what="load")
                copy = tmp_path / f"copy{n}.db"
                result = run_cli_in_process("backup", str(copy), "-c", str(config))
                assert result.returncode == 0, result.stderr
                assert result.stdout.startswith(f"OK: {copy}: ") and "integrity ok" in result.stdout
                copies.append(copy)
            during = len(load.statuses)
            wait_until(lambda: len(load.statuses) >= during + 30, timeout=60, what="load after the backups")
        finally:
            load.stop.set()
            load.join(timeout=30)
        assert set(load.statuses) == {200}  # the backups refused no delivery
    for copy in copies:
        assert copy.stat().st_mode & 0o777 == 0o600
        assert not Path(f"{copy}-wal").exists()  # self-contained
        assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
        inbound = rows(copy, "SELECT COUNT(*) FROM inbound_log")[0][0]
        assert inbound > 0
        # One commit's state: every alert came from a logged Mapped Open, has its opened event and
        # its plan; every logged decision points at an alert that exists.
        opens = rows(copy, "SELECT COUNT(*) FROM inbound_log WHERE outcome = 'Mapped Open'")[0][0]
        alerts = rows(copy, "SELECT COUNT(*) FROM alerts")[0][0]
        assert opens == alerts > 0
        for orphans in (
            "SELECT COUNT(*) FROM alerts WHERE id NOT IN (SELECT alert_id FROM escalations)",
            "SELECT COUNT(*) FROM alerts WHERE id NOT IN"
            " (SELECT alert_id FROM alert_events WHERE kind IN ('opened', 'reopened'))",
            "SELECT COUNT(*) FROM inbound_log WHERE alert_id NOT IN (SELECT id FROM alerts)",
        ):
            assert rows(copy, orphans) == [(0,)], orphans
    # Later copies hold more (the load went on between them).
    counts = [rows(c, "SELECT COUNT(*) FROM inbound_log")[0][0] for c in copies]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_backup_refuses_to_overwrite_and_restores(tmp_path: Path) -> None:
    config = config_with_policy(tmp_path)
    missing = run_cli_in_process("backup", str(tmp_path / "b.db"), "-c", str(config))
    assert missing.returncode == 2 and missing.stderr.startswith("Error: no database at ")
    with InProcessThread(config):
        pass  # creates and migrates the database (the daemon's start, in-process)
    copy = tmp_path / "b.db"
    assert run_cli_in_process("backup", str(copy), "-c", str(config)).returncode == 0
    cases = {
        str(copy): "exists; use --force to overwrite it",
        str(tmp_path / "alertd.db"): "is the live database",
        str(tmp_path / "alertd.db-wal"): "is the live database",
        str(tmp_path / "nope" / "b.db"): "does not exist",
        str(tmp_path): "is a directory",
    }
    for dest, reason in cases.items():
        result = run_cli_in_process("backup", dest, "-c", str(config))
        assert result.returncode == 2, (dest, result.stderr)
        assert reason in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert run_cli_in_process("backup", str(copy), "--force", "-c", str(config)).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # Restore: the copy serves as a store.path.
    other = tmp_path / "restored"
    other.mkdir()
    shutil.copy(copy, other / "alertd.db")
    restored = config.read_text().replace(f'path = "{tmp_path / "alertd.db"}"', f'path = "{other / "alertd.db"}"')
    restored = restored.replace('cert_cache_dir = "certs"', f'cert_cache_dir = "{tmp_path}/certs"')
    (other / "alertd.toml").write_text(restored)
    assert Db(other / "alertd.db").rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    listing = run_cli_in_process("alerts", "-c", str(other / "alertd.toml"))
    assert listing.returncode == 0, listing.stderr
