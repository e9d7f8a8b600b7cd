"""What every ``alertd`` command module shares: the ``-c`` option after a subcommand, row ids, the
acting user. A leaf below ``cli`` and the ``cli_*`` modules (no import cycle between them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import click

# Row ids (alerts, inbound messages) as SQLite stores them: 1 to 2^63-1; anything else is a usage error.
ROW_ID = click.IntRange(1, 2**63 - 1)
# One for every command's -c (a type holds no state): click asks gettext for its name per instance.
CONFIG_PATH = click.Path(path_type=Path)


def config_option(fn: Any) -> Any:
    """Let ``-c`` also follow the subcommand (``alertd run -c FILE``); plugins' commands use it too."""

    def callback(ctx: click.Context, _param: Any, value: Path | None) -> None:
        # ctx.obj is the CliContext of the group (cli.py), inherited by every subcommand.
        if value is not None and hasattr(ctx.obj, "config_path"):
            ctx.obj.config_path = value

    return click.option(
        "-c",
        "--config",
        "config_override",
        type=CONFIG_PATH,
        expose_value=False,
        callback=callback,
        is_eager=True,
        help="Configuration file.",
    )(fn)


def cli_actor(obj: Any, user: str | None) -> str:
    """Who the CLI acts as: ``--user`` if it names a configured user (else exit 2), or ``cli:<login>``.

    Without --user the OS login is recorded but does not claim to be a configured user.
    """
    if user is None:
        import getpass

        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = "unknown"
        return f"cli:{login}"
    from alertd.commands import actor_problem

    problem = actor_problem(obj.tables().raw, user)
    if problem is not None:
        click.echo(f"Error: {problem}", err=True)
        raise SystemExit(2)
    return user


def fail(message: str) -> NoReturn:
    """A user-facing failure: the message (one line per problem), exit code 2, no traceback."""
    click.echo(message, err=True)
    raise SystemExit(2)


def echo_json(data: Any) -> None:
    import json  # here: the listings without --json skip its import

    from alertd.textout import json_visible

    # Control characters from message data as \uXXXX escapes: the same JSON, inert on a terminal.
    click.echo(json_visible(json.dumps(data, indent=2, default=str, ensure_ascii=False)))


class CliError(click.ClickException):
    """One line on stderr, exit 2: a mistake in what was asked."""

    exit_code = 2


def parse_since(value: str | None, zone: Any = None) -> float | None:
    """``2h``, ``30m``, ``7d`` ago, or an ISO 8601 time; a time without an offset is in
    ``zone`` (the zone the listing is shown in, so a time copied from it means the same)."""
    import re
    import time
    from datetime import UTC, datetime

    if value is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", value.strip())
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return time.time() - seconds
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected a duration like 2h, 30m, 7d or an ISO time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return parsed.timestamp()


def tz_option(fn: Any) -> Any:
    """``--tz ZONE``: times in that zone instead of this machine's local one."""

    def callback(_ctx: click.Context, _param: Any, value: str | None) -> Any:
        from alertd.textout import zone_named

        try:
            return zone_named(value)
        except ValueError as exc:
            raise CliError(f"--tz: {exc}") from None

    return click.option(
        "--tz",
        "zone",
        metavar="ZONE",
        callback=callback,
        help="Show times in this zone (IANA name, e.g. Europe/Berlin). Default: the local zone (TZ).",
    )(fn)
