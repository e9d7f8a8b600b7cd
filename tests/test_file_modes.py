"""The database (with its -wal and -shm files) and the SNS certificate cache are private:
files 0600, directories alertd creates 0700, whatever the umask of the process."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import DaemonProcess, run_cli, write_config


@contextmanager
def umask(value: int) -> Iterator[None]:
    """The subprocesses started inside inherit this umask."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "sub" / "alertd.db"
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(tmp_path / "alertd.db"), str(db)))
    with umask(0o022), DaemonProcess(config):
        # While the daemon runs, WAL mode keeps the -wal and -shm files beside the database.
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(p.exists() for p in files)
        assert {str(p): oct(mode(p)) for p in files} == {str(p): oct(0o600) for p in files}
    assert oct(mode(state)) == oct(0o700)
    assert oct(mode(state / "sub")) == oct(0o700)


def test_cli_creates_the_database_private(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with umask(0o000):
        assert run_cli("alerts", "-c", str(config)).returncode == 0
    assert oct(mode(tmp_path / "alertd.db")) == oct(0o600)


def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    # An admin's own directory (e.g. shared with a group for the CLI) keeps its mode.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(tmp_path / "alertd.db"), str(shared / "alertd.db")))
    with umask(0o022):
        assert run_cli("alerts", "-c", str(config)).returncode == 0
    assert oct(mode(shared)) == oct(0o750)
    assert oct(mode(shared / "alertd.db")) == oct(0o600)


def test_certificate_cache_is_private(tmp_path: Path) -> None:
    from sns_signing import make_test_ca_and_signing_cert

    config = write_config(tmp_path, '[inbound.aws_sns]\ncert_cache_dir = "cache/sns-certs"\n')
    pem = tmp_path / "cert.pem"
    pem.write_bytes(make_test_ca_and_signing_cert()[2])
    url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
    with umask(0o022):
        result = run_cli("sns", "seed-cert", url, str(pem), "-c", str(config))
    assert result.returncode == 0, result.stderr
    cached = tmp_path / "cache" / "sns-certs" / "sns.eu-west-1.amazonaws.com_SimpleNotificationService-abc.pem"
    assert oct(mode(cached)) == oct(0o600)
    assert oct(mode(cached.parent)) == oct(0o700)
    assert oct(mode(cached.parent.parent)) == oct(0o700)
