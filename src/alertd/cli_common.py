"""What every ``alertd`` command module shares: the ``-c`` option after a subcommand, row ids, the
acting user. A leaf below ``cli`` and the ``cli_*`` modules (no import cycle between them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
