"""Plugin discovery: a real entry point of a test distribution, and plugins_dir."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from helpers import run_cli, run_cli_in_process, write_config

PLUGIN_SOURCE = '''
import click
from alertd import hookimpl

__version__ = "1.2.3"


@hookimpl
def alertd_register_commands(cli):
    @cli.command("hello-from-plugin")
    def hello():
        """Say hello (from a test plugin)."""
        click.echo("hello from the test plugin")


@hookimpl
def alertd_alert_event(event, runtime):
    pass
'''


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A tiny installed distribution: a module plus its .dist-info with an entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "alertd_testplugin.py").write_text(PLUGIN_SOURCE)
    info = site / "alertd_testplugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: alertd-testplugin\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[alertd]\ntestplugin = alertd_testplugin\n")
    (info / "RECORD").write_text("")
    return site


def test_entry_point_plugin_is_listed_with_version_and_hooks(plugin_site: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_cli("plugins", "--json", "-c", str(config), env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["testplugin"]["version"] == "1.2.3"
    assert plugins["testplugin"]["hooks"] == ["alertd_alert_event", "alertd_register_commands"]
    assert "entry point (alertd-testplugin)" in plugins["testplugin"]["source"]


def test_entry_point_plugin_adds_a_command(plugin_site: Path) -> None:
    result = run_cli("hello-from-plugin", env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the test plugin"
    assert "hello-from-plugin" not in run_cli("--help").stdout


def test_plugins_dir_files_are_loaded(tmp_path: Path) -> None:
    pdir = tmp_path / "local_plugins"
    pdir.mkdir()
    (pdir / "my_local.py").write_text(
        textwrap.dedent("""
        from alertd import hookimpl
        __version__ = "0.0.1"

        @hookimpl
        def alertd_startup(runtime):
            return None
    """)
    )
    config = write_config(tmp_path, 'plugins_dir = "local_plugins"\n'.join(["", ""]))
    text = config.read_text()
    config.write_text('plugins_dir = "local_plugins"\n' + text)
    result = run_cli_in_process("plugins", "--json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    local = plugins["alertd_local_plugins.my_local"]
    assert local["hooks"] == ["alertd_startup"]
    assert local["version"] == "0.0.1"
    assert local["source"].endswith("my_local.py")


def test_broken_plugin_file_is_a_clear_error(tmp_path: Path) -> None:
    pdir = tmp_path / "pl"
    pdir.mkdir()
    (pdir / "broken.py").write_text("this is not python\n")
    config = tmp_path / "a.toml"
    config.write_text('plugins_dir = "pl"\n')
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "broken.py failed to import" in result.stderr
