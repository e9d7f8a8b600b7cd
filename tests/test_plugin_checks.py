"""Issue 10 item 5: the plugins are checked together at start. A misspelt hook, or a channel or
inbound-type name two plugins claim, is one line naming them and exit 2 (`run`, `check-config`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpers import run_cli_in_process, write_config

MISSPELT = """
from alertd import hookimpl

@hookimpl
def alertd_chanels():
    return []
"""

SECOND_WEBHOOK = """
from alertd import hookimpl

class Webhook:
    name = "webhook"
    kinds = ("webhook",)
    config_model = None
    concurrency = 1

    async def send(self, notification, settings, runtime):
        raise AssertionError("never sent")

@hookimpl
def alertd_channels():
    return [Webhook()]
"""

SECOND_SNS = """
from alertd import hookimpl

class Sns:
    name = "aws_sns"

@hookimpl
def alertd_inbound_types():
    return [Sns()]
"""

BAD_ARGUMENTS = """
from alertd import hookimpl

@hookimpl
def alertd_alert_event(event, runtime, colour):
    pass
"""


def _config_with(tmp_path: Path, files: dict[str, str]) -> Path:
    pdir = tmp_path / "local_plugins"
    pdir.mkdir()
    for name, source in files.items():
        (pdir / name).write_text(textwrap.dedent(source))
    config = write_config(tmp_path)
    config.write_text('plugins_dir = "local_plugins"\n' + config.read_text())
    return config


def _one_line_exit_2(result: object) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]
    return lines[0]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_misspelt_hook_is_an_error_naming_it(tmp_path: Path, command: str) -> None:
    config = _config_with(tmp_path, {"typo.py": MISSPELT})
    line = _one_line_exit_2(run_cli_in_process(command, "-c", str(config)))
    assert "unknown hook 'alertd_chanels'" in line and "did you mean 'alertd_channels'?" in line
    assert str(tmp_path / "local_plugins" / "typo.py") in line


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_channel_name_two_plugins_provide_is_an_error_naming_both(tmp_path: Path, command: str) -> None:
    config = _config_with(tmp_path, {"mywebhook.py": SECOND_WEBHOOK})
    line = _one_line_exit_2(run_cli_in_process(command, "-c", str(config)))
    # The built-in webhook plugin (entry point "webhook") and the local file.
    assert "channel 'webhook' is provided by more than one plugin: webhook and " in line, line
    assert str(tmp_path / "local_plugins" / "mywebhook.py") in line


def test_an_inbound_type_name_two_plugins_provide_is_an_error_naming_both(tmp_path: Path) -> None:
    config = _config_with(tmp_path, {"mysns.py": SECOND_SNS})
    line = _one_line_exit_2(run_cli_in_process("check-config", "-c", str(config)))
    assert "inbound type 'aws_sns' is provided by more than one plugin: aws_sns and " in line, line
    assert str(tmp_path / "local_plugins" / "mysns.py") in line


def test_every_problem_is_on_the_one_line(tmp_path: Path) -> None:
    config = _config_with(tmp_path, {"a_typo.py": MISSPELT, "b_sns.py": SECOND_SNS})
    line = _one_line_exit_2(run_cli_in_process("check-config", "-c", str(config)))
    assert "'alertd_chanels'" in line and "inbound type 'aws_sns'" in line


def test_a_hook_with_unknown_arguments_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    config = _config_with(tmp_path, {"args.py": BAD_ARGUMENTS})
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert "args.py" in result.stderr and "colour" in result.stderr


def test_plugins_that_fit_together_still_start_checking(tmp_path: Path) -> None:
    config = _config_with(tmp_path, {"fine.py": "from alertd import hookimpl\n"})
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 0, result.stderr


def test_header_prefixes_that_would_keep_any_header_are_an_error(tmp_path: Path) -> None:
    # "" is a prefix of every name: the inbound log would keep Authorization values.
    source = SECOND_SNS.replace('"aws_sns"', '"greedy"').replace(
        'name = "greedy"', 'name = "greedy"\n    stored_header_prefixes = ("x-greedy-", "")'
    )
    config = _config_with(tmp_path, {"greedy.py": source})
    line = _one_line_exit_2(run_cli_in_process("check-config", "-c", str(config)))
    assert "inbound type 'greedy': stored_header_prefixes must be a tuple of lower-case header-name prefixes" in line
    assert str(tmp_path / "local_plugins" / "greedy.py") in line


def test_closure_notices_that_is_not_a_bool_is_an_error(tmp_path: Path) -> None:
    # "no" is truthy: taken as is, it would send the closure notices the plugin meant to refuse.
    source = SECOND_WEBHOOK.replace('"webhook"', '"quiet"').replace(
        "concurrency = 1", 'concurrency = 1\n    closure_notices = "no"'
    )
    config = _config_with(tmp_path, {"quiet.py": source})
    line = _one_line_exit_2(run_cli_in_process("check-config", "-c", str(config)))
    assert "channel 'quiet': closure_notices must be True or False" in line
    assert str(tmp_path / "local_plugins" / "quiet.py") in line
