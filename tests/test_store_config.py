"""``[store] url`` (PostgreSQL) and ``pool_size``: what is accepted, what is refused and how it
is said (file, key path, what was expected; never the URL, which may hold a password)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertd.config import ConfigError, load_config
from alertd.plugins import make_manager
from alertd.store.pgurl import redacted
from helpers import run_cli_in_process

SECRET = "hunter2-secret"
CASES = [
    (
        "not postgresql",
        f'[store]\nurl = "mysql://u:{SECRET}@h/db"\n',
        "store.url: expected a URL starting with postgresql:// (postgresql://user@host:port/database); "
        "found a secret value of 29 characters (not shown)",
    ),
    (
        "no database",
        f'[store]\nurl = "postgresql://u:{SECRET}@h:5432"\n',
        "store.url: expected a postgresql:// URL naming its database",
    ),
    (
        "bad port",
        f'[store]\nurl = "postgresql://u:{SECRET}@h:99999/db"\n',
        "store.url: expected a postgresql://user@host:port/database URL (the port must be a number of 1 to 65535)",
    ),
    (
        "too long",
        '[store]\nurl = "postgresql://h/' + "d" * 2100 + '"\n',
        "store.url: expected a postgresql:// URL of at most 2048 characters",
    ),
    (
        "path and url",
        f'[store]\npath = "a.db"\nurl = "postgresql://u:{SECRET}@h/db"\n',
        "store: expected set either path (SQLite) or url (PostgreSQL), not both",
    ),
    ("pool too big", "[store]\npool_size = 65\n", "store.pool_size: expected a number <= 64; found number 65"),
    ("pool zero", "[store]\npool_size = 0\n", "store.pool_size: expected a number >= 1; found number 0"),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_store_settings_name_the_key_and_never_show_the_url(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, make_manager())
    message = str(info.value)
    assert f"{path}: {expected}" in message
    assert SECRET not in message


def test_a_postgresql_url_is_accepted_and_its_password_kept_secret(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(f'[store]\nurl = "postgresql://alertd:{SECRET}@db.internal:5433/alertd"\npool_size = 8\n')
    config = load_config(path, make_manager())
    assert config.raw.store.url is not None and config.raw.store.pool_size == 8
    assert SECRET not in repr(config.raw.store) and SECRET not in str(config.raw.store.url)
    assert redacted(config.raw.store.url.get_secret_value()) == "postgresql://alertd:***@db.internal:5433/alertd"
    checked = run_cli_in_process("check-config", "-c", str(path))
    assert checked.returncode == 0, checked.stderr
    assert SECRET not in checked.stdout + checked.stderr


def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path) -> None:
    from helpers import free_port

    path = tmp_path / "a.toml"
    path.write_text(f'[store]\nurl = "postgresql://alertd:{SECRET}@127.0.0.1:{free_port()}/alertd"\n')
    result = run_cli_in_process("alerts", "-c", str(path))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("cannot connect to postgresql://alertd:***@127.0.0.1:") and SECRET not in line


def test_the_daemon_without_its_postgresql_stops_in_one_line(tmp_path: Path) -> None:
    from helpers import free_port, run_cli

    path = tmp_path / "a.toml"
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'[store]\nurl = "postgresql://alertd:{SECRET}@127.0.0.1:{free_port()}/alertd"\n'
    )
    result = run_cli("run", "-c", str(path), timeout=30)
    assert result.returncode == 2
    assert "cannot connect to postgresql://alertd:***@127.0.0.1:" in result.stderr
    assert SECRET not in result.stderr and "Traceback" not in result.stderr


def test_a_reload_that_changes_the_url_asks_for_a_restart_without_showing_the_password(tmp_path: Path) -> None:
    from alertd.reload import restart_needed

    path = tmp_path / "a.toml"
    path.write_text(f'[store]\nurl = "postgresql://alertd:{SECRET}@db1/alertd"\n')
    running = load_config(path, make_manager())
    path.write_text(f'[store]\nurl = "postgresql://alertd:{SECRET}@db2/alertd"\npool_size = 9\n')
    changed = restart_needed(running, load_config(path, make_manager()))
    assert changed == [
        ("store.url", "postgresql://alertd:***@db1/alertd", "postgresql://alertd:***@db2/alertd"),
        ("store.pool_size", 4, 9),
    ]


def test_store_keys_of_the_other_backend_are_warnings_naming_the_key(tmp_path: Path) -> None:
    """synchronous and max_size_mb are SQLite's, pool_size PostgreSQL's: set for the other backend
    they would be ignored in silence; check-config names each (a warning: the file still runs)."""
    path = tmp_path / "a.toml"
    url = f'url = "postgresql://alertd:{SECRET}@db.internal:5433/alertd"\n'
    path.write_text(f'[store]\n{url}synchronous = "NORMAL"\nmax_size_mb = 100\n')
    result = run_cli_in_process("check-config", "-c", str(path))
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "WARNING store." in line]
    assert warned == [
        f"{path}: WARNING store.synchronous: applies to SQLite only; remove it when store.url is set "
        "(PostgreSQL's own synchronous_commit applies)",
        f"{path}: WARNING store.max_size_mb: applies to SQLite only; remove it when store.url is set "
        "(no size cap is enforced on PostgreSQL: watch its disk instead)",
    ]
    assert "2 warning(s)" in result.stdout and SECRET not in result.stdout + result.stderr

    path.write_text(f"[store]\n{url}pool_size = 8\n")  # the keys that apply: no warning
    assert "WARNING store." not in run_cli_in_process("check-config", "-c", str(path)).stderr
    path.write_text('[store]\npath = "a.db"\nsynchronous = "NORMAL"\nmax_size_mb = 100\npool_size = 8\n')
    warned = [
        line for line in run_cli_in_process("check-config", "-c", str(path)).stderr.splitlines() if "store." in line
    ]
    assert warned == [
        f"{path}: WARNING store.pool_size: applies to PostgreSQL (store.url) only; remove it "
        "(the SQLite file has no connection pool)"
    ]


def test_the_daemon_on_postgresql_logs_the_ignored_sqlite_keys(tmp_path: Path, pg_url: str) -> None:
    from helpers import DaemonProcess, free_port

    path = tmp_path / "a.toml"
    path.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n[store]\nurl = "{pg_url}"\nmax_size_mb = 50\n')
    with DaemonProcess(path) as daemon:
        line = daemon.wait_for("event=config.warning key=store.max_size_mb")
        assert "applies to SQLite only" in line
        assert not [line for line in daemon.lines if "key=store.synchronous" in line]
