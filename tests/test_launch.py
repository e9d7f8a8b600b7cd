"""A plain ``alertd run`` command line starts the daemon without click (alertd.launch); every
other command line goes to alertd.cli as before."""

from __future__ import annotations

from pathlib import Path

import pytest

import alertd
from alertd.launch import plain_run_config
from helpers import DaemonProcess, wait_until, write_config


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run"], "alertd.toml"),
        (["run", "-c", "a.toml"], "a.toml"),
        (["-c", "a.toml", "run"], "a.toml"),
        (["--config", "a.toml", "run"], "a.toml"),
        (["run", "--config=a.toml"], "a.toml"),
        (["-c", "a.toml", "run", "-c", "b.toml"], "b.toml"),  # the command's own -c wins, as in click
        (["-c", "run", "run"], "run"),
    ],
)
def test_plain_run_command_lines(argv: list[str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTD_CONFIG", raising=False)
    assert plain_run_config(argv) == Path(expected)


def test_the_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTD_CONFIG", "/etc/alertd/alertd.toml")
    assert plain_run_config(["run"]) == Path("/etc/alertd/alertd.toml")
    assert plain_run_config(["run", "-c", "x.toml"]) == Path("x.toml")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["run", "--help"],
        ["run", "run"],
        ["run", "-c"],
        ["run", "-c", "--help"],
        ["run", "-cfile.toml"],
        ["run", "--config="],
        ["alerts"],
        ["check-config", "-c", "a.toml"],
        ["-c", "a.toml"],
    ],
)
def test_anything_else_goes_to_click(argv: list[str]) -> None:
    assert plain_run_config(argv) is None


PROBE = """
import sys
from alertd.plugin import hookimpl

@hookimpl
def alertd_startup(runtime):
    with open({out!r}, "w") as fh:
        fh.write(str("click" in sys.modules))
"""


def test_alertd_run_starts_without_click(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    out = tmp_path / "click.txt"
    (plugins / "probe.py").write_text(PROBE.format(out=str(out)))
    config = write_config(tmp_path)
    config.write_text(f'plugins_dir = "{plugins}"\n' + config.read_text())
    with DaemonProcess(config) as daemon:  # python -m alertd run -c CONFIG
        assert wait_until(lambda: out.exists() and out.read_text(), what="the probe") == "False"
        assert daemon.get("/readyz").status_code == 200


def test_ctrl_c_during_start_is_one_line_as_through_click(tmp_path: Path) -> None:
    """Ctrl-C before the daemon handles SIGINT (here: raised by a plugin file as it loads) ends
    `alertd run` as click did: "Aborted.", exit 1, no traceback, for the plain command line
    (alertd.launch) as for one click parses (-cFILE)."""
    import subprocess
    import sys

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "interrupt.py").write_text("raise KeyboardInterrupt\n")
    config = write_config(tmp_path)
    config.write_text(f'plugins_dir = "{plugins}"\n' + config.read_text())
    for argv in (["run", "-c", str(config)], ["run", f"-c{config}"]):
        done = subprocess.run(
            [sys.executable, "-m", "alertd", *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert (done.returncode, done.stderr.strip()) == (1, "Aborted."), argv


def test_version_alone_prints_clicks_line_without_click() -> None:
    """`alertd --version` answers from alertd.launch (click's import was most of that command),
    with the very line click's version option prints; with anything else beside it, click decides."""
    import subprocess
    import sys

    from helpers import run_cli_in_process

    probe = (
        "import sys; from alertd.launch import main; main(); "
        "print(sorted({'click', 'pathlib', 'typing'} & set(sys.modules)), file=sys.stderr)"
    )
    plain = subprocess.run([sys.executable, "-c", probe, "--version"], capture_output=True, text=True, timeout=60)
    through_click = run_cli_in_process("--version")
    assert (plain.returncode, through_click.returncode) == (0, 0)
    assert plain.stdout == through_click.stdout == f"alertd, version {alertd.__version__}\n"
    assert plain.stderr.strip() == "[]"  # neither click nor what only the CLI needs
    assert plain_run_config(["--version"]) is None
