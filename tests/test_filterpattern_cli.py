"""``alertd filter-pattern test PATTERN FILE [--json]`` (issue 13 item 3): the process's output."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alertd.cli_filterpattern import filter_pattern
from alertd.filterpattern.logfile import LogFileError, decompress, read_events
from helpers import SAMPLES, run_cli_in_process

SIGNIN_FAILURE = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'
CLOUDTRAIL = SAMPLES / "cloudtrail-log-file.json"


def test_cloudtrail_file_gzipped_text_and_json(tmp_path: Path) -> None:
    zipped = tmp_path / "123456789012_CloudTrail_us-east-1_20261124T1205Z_abc.json.gz"
    zipped.write_bytes(gzip.compress(CLOUDTRAIL.read_bytes()))
    result = run_cli_in_process("filter-pattern", "test", SIGNIN_FAILURE, str(zipped))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0  2026-11-24T12:00:00Z ConsoleLogin alice 203.0.113.7 Failed authentication"
    assert [line.split()[0] for line in lines[:-1]] == ["0", "1", "2", "3", "4"]
    assert lines[-1] == "5 of 7 events match"
    # --json: exactly this shape, indices in Records.
    result = run_cli_in_process("filter-pattern", "test", "--json", "{ $.eventName = DeleteUser }", str(CLOUDTRAIL))
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"total": 7, "matched": [6]}\n'


def test_arrays_json_lines_and_text_lines(tmp_path: Path) -> None:
    records = json.loads(CLOUDTRAIL.read_text())["Records"]
    array = tmp_path / "events.json"
    array.write_text(json.dumps(records[4:]))
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    text = tmp_path / "app.log"
    text.write_text("[ERROR 400] BAD REQUEST\n\n[INFO 200] OK\n[ERROR 419] MISSING ARGUMENTS\x1b[2J\n")
    for path, pattern, expected in [
        (array, SIGNIN_FAILURE, {"total": 3, "matched": [0]}),
        (lines, "{ $.responseElements.ConsoleLogin = Success }", {"total": 7, "matched": [5]}),
        (lines, '"Failed authentication" -DeleteUser', {"total": 7, "matched": [0, 1, 2, 3, 4]}),
        (text, "ERROR -BAD", {"total": 3, "matched": [2]}),
        (text, "[level, code, ...]", {"total": 3, "matched": [0, 1, 2]}),
    ]:
        result = CliRunner().invoke(filter_pattern, ["test", "--json", pattern, str(path)])
        assert (result.exit_code, json.loads(result.output)) == (0, expected), (pattern, result.output)
    result = CliRunner().invoke(filter_pattern, ["test", "ERROR", str(text)])
    # Text from the file is shown with its control characters escaped.
    assert result.output.splitlines() == [
        "0  [ERROR 400] BAD REQUEST",
        "2  [ERROR 419] MISSING ARGUMENTS\\x1b[2J",
        "2 of 3 events match",
    ]


def test_a_bad_pattern_or_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli_in_process("filter-pattern", "test", "{ $.eventName = ConsoleLogin && }", str(CLOUDTRAIL))
    assert result.returncode == 2
    assert (
        result.stderr
        == "Error: the pattern: at character 33: expected a selector such as $.eventName, or '('; found '}'\n"
    )
    bad_gzip = tmp_path / "broken.json.gz"
    bad_gzip.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run_cli_in_process("filter-pattern", "test", "ERROR", str(bad_gzip))
    assert result.returncode == 2 and result.stderr.startswith(f"Error: {bad_gzip}: not a readable gzip file")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    result = run_cli_in_process("filter-pattern", "test", "ERROR", str(tmp_path / "missing.log"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_bounds() -> None:
    bomb = gzip.compress(b"A" * 2_000_000)
    with pytest.raises(LogFileError, match="at most 1 MiB once decompressed"):
        decompress(bomb, limit=1024 * 1024)
    with pytest.raises(LogFileError, match="at most 1 MiB"):
        decompress(b"A" * (1024 * 1024 + 1), limit=1024 * 1024)
    # Nesting beyond the JSON limit: read as a text line, matched by no JSON pattern, no crash.
    kind, events = read_events(b"[" * 100_000)
    assert kind == "lines" and len(events) == 1


def test_the_command_imports_no_http_stack() -> None:
    # (alertd's own start-up loads the installed plugins; this command adds nothing heavy to that.)
    code = (
        "import sys; from alertd.cli_filterpattern import filter_pattern\n"
        f"filter_pattern(['test', 'ERROR', {str(CLOUDTRAIL)!r}], standalone_mode=False)\n"
        "heavy = [m for m in ('quart', 'hypercorn', 'httpx', 'twilio', 'trio', 'sqlite_utils') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
