"""Start-up failures: one line naming the address or path and the cause, exit code 2, no traceback."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from helpers import DaemonProcess, run_cli, run_cli_in_process, write_config


def failed_run(config: Path) -> str:
    """Run ``alertd run`` that must fail to start; return its only line of output."""
    result = run_cli("run", "-c", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = failed_run(write_config(tmp_path, port=port))
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
    assert "level=error" in line


def test_store_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(tmp_path / "alertd.db"), f"{blocker}/state/alertd.db"))
    line = failed_run(config)
    assert f"cannot open the database {blocker}/state/alertd.db: Not a directory" in line


def test_store_path_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "alertd.db").mkdir()
    line = failed_run(write_config(tmp_path))
    assert f"cannot open the database {tmp_path / 'alertd.db'}" in line


def test_database_newer_than_the_code(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_cli_in_process("alerts", "-c", str(config)).returncode == 0  # creates and migrates the database
    with sqlite3.connect(tmp_path / "alertd.db") as db:
        db.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (999, 'future', 0)")
    line = failed_run(config)
    assert f"cannot use the database {tmp_path / 'alertd.db'}: database schema version 999 is newer" in line
    # The CLI says the same in one line.
    result = run_cli_in_process("alerts", "-c", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "schema version 999 is newer" in result.stderr


def test_unreadable_config(tmp_path: Path) -> None:
    line = failed_run(tmp_path)  # a directory where the file should be
    assert f"{tmp_path}: cannot read file: Is a directory" in line
    line = failed_run(tmp_path / "missing.toml")
    assert f"{tmp_path / 'missing.toml'}: file not found" in line


def test_invalid_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[users.a]\ntimezone = "Mars/Olympus"\n[outbox]\nmax_attempts = 0\n')
    line = failed_run(config)
    assert "event=config.invalid" in line and "problems=2" in line and "users.a.timezone" in line


def test_warnings_are_logged_at_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[integrations.quiet]\ntype = "aws_sns"\n')
    with DaemonProcess(config) as daemon:
        line = daemon.wait_for("event=config.warning key=integrations.quiet")
    assert 'problem="no escalation_policy: alerts will page nobody"' in line
