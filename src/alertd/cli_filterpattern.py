"""``alertd filter-pattern test PATTERN FILE``: CloudWatch's "Test pattern" button, offline.

Light on purpose: click here, the pattern package and the file reader only when run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click


class PatternTestError(click.ClickException):
    """One line on stderr, exit 2 (like cli.CliError; this module is imported by cli.py)."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    raise PatternTestError(message)


@click.group("filter-pattern")
def filter_pattern() -> None:
    """CloudWatch Logs filter patterns, evaluated by alertd."""


@filter_pattern.command("test")
@click.argument("pattern")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help='Print {"total": M, "matched": [indices from 0]}.')
def test_pattern(pattern: str, file: Path, as_json: bool) -> None:
    """Print the events of FILE that PATTERN matches.

    FILE is a CloudTrail log file ({"Records": [...]}, gzipped or not), a JSON array, JSON lines,
    or plain text lines; events are counted from 0 in file order (a CloudTrail record's index is
    its position in Records)."""
    from alertd.filterpattern import FilterPatternError, compile_pattern
    from alertd.filterpattern.logfile import MAX_FILE_BYTES, LogFileError, read_events, summary
    from alertd.textout import shorten, visible

    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError as exc:
        fail(f"the pattern: {exc}")
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            fail(f"{file}: expected at most {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        _kind, events = read_events(file.read_bytes())
    except (OSError, LogFileError) as exc:
        fail(f"{file}: {exc}")
    matched = [i for i, event in enumerate(events) if compiled.matches(event)]
    if as_json:
        click.echo(json.dumps({"total": len(events), "matched": matched}))
        return
    width = len(str(max(matched, default=0)))
    for i in matched:
        click.echo(f"{i:>{width}}  {shorten(visible(summary(events[i])), 160)}")
    noun = "event matches" if len(events) == 1 else "events match"
    click.echo(f"{len(matched)} of {len(events)} {noun}")
