"""contrib/systemd/alertd.service agrees with the example config and the README's install steps."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alertd.config import load_config
from alertd.plugins import make_manager
from helpers import ROOT, run_cli_in_process

UNIT = ROOT / "contrib" / "systemd" / "alertd.service"
ALERTD = "/opt/alertd/venv/bin/alertd"
CONFIG = "/etc/alertd/alertd.toml"


def directives(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value, in order (systemd keys may repeat)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def sed_edits(text: str) -> list[tuple[str, str]]:
    """The ``s|^OLD|NEW|`` edits of the install steps, as (OLD, NEW)."""
    return re.findall(r"s\|\^([^|]+)\|([^|]+)\|", text)


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return directives(UNIT.read_text())


def test_commands_share_one_binary_and_one_config(unit: dict[str, list[str]]) -> None:
    assert unit["Service.ExecStart"] == [f"{ALERTD} run -c {CONFIG}"]
    assert unit["Service.ExecStartPre"] == [f"{ALERTD} check-config -c {CONFIG}"]
    # Reload checks the file first: a rejected config fails `systemctl reload`, no SIGHUP is sent.
    assert unit["Service.ExecReload"] == [f"{ALERTD} check-config -c {CONFIG}", "/bin/kill -HUP $MAINPID"]
    assert unit["Service.Type"] == ["notify"]
    assert unit["Service.User"] == ["alertd"]


def test_documentation_points_at_files_of_the_clone(unit: dict[str, list[str]]) -> None:
    urls = " ".join(unit["Unit.Documentation"]).split()
    assert urls
    for url in urls:
        assert url.startswith("file:///opt/alertd/src/"), url
        assert (ROOT / url.removeprefix("file:///opt/alertd/src/")).is_file(), url


def test_install_steps_turn_the_example_into_the_service_paths(unit: dict[str, list[str]], tmp_path: Path) -> None:
    (state,) = unit["Service.StateDirectory"]
    (cache,) = unit["Service.CacheDirectory"]
    assert unit["Service.WorkingDirectory"] == [f"/var/lib/{state}"]
    edits = sed_edits(UNIT.read_text())
    assert len(edits) == 2
    # The README gives the same edits.
    assert sed_edits((ROOT / "README.md").read_text()) == edits
    text = (ROOT / "alertd.toml").read_text()
    for old, new in edits:
        assert len(re.findall("^" + re.escape(old), text, flags=re.M)) == 1, old
        text = re.sub("^" + re.escape(old), new, text, flags=re.M)
    etc = tmp_path / "etc" / "alertd.toml"
    etc.parent.mkdir()
    etc.write_text(text)
    config = load_config(etc, make_manager())
    assert config.db_path == Path(f"/var/lib/{state}/alertd.db")
    sns = config.inbound_settings["aws_sns"]
    assert config.resolve_path(sns.cert_cache_dir) == Path(f"/var/cache/{cache}/sns-certs")  # type: ignore[attr-defined]


def test_reload_command_fails_on_a_rejected_config(tmp_path: Path) -> None:
    bad = tmp_path / "alertd.toml"
    bad.write_text('[server]\nlisten = "nowhere"\n')
    result = run_cli_in_process("check-config", "-c", str(bad))
    assert result.returncode != 0 and "server.listen" in result.stderr
    good = run_cli_in_process("check-config", "-c", str(ROOT / "alertd.toml"))
    assert good.returncode == 0, good.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    copy = tmp_path / "alertd.service"
    copy.write_text(UNIT.read_text().replace("/opt/alertd/venv", str(venv)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if str(copy) in line and ("Unknown" in line or "Invalid" in line or "Failed" in line)
    ]
    assert not problems, problems
