"""``alertd users``: console passwords (hashed with argon2, kept in the database, not the config)."""

from __future__ import annotations

import sys
import time
from typing import Any, NoReturn

import click

from alertd.cli_common import config_option

# Not imported from alertd.cli (which registers this group): no import cycle.


def fail(message: str) -> NoReturn:
    """One line, exit 2, no traceback (as alertd.cli.fail)."""
    click.echo(message, err=True)
    raise SystemExit(2)


@click.group("users")
def users_cmd() -> None:
    """Console users: the people of [users] who may log in to the web console."""


@users_cmd.command("set-password")
@config_option
@click.argument("name")
@click.pass_obj
def set_password_cmd(obj: Any, name: str) -> None:
    """Set NAME's console password, read from the terminal (asked twice) or one line of stdin.

    The user's open console sessions end."""
    from alertd.store import write_transaction
    from alertd.textout import visible
    from alertd.web.auth import hash_password, password_problem, set_password

    if name not in obj.config.raw.users:
        shown = visible(name if len(name) <= 64 else name[:64] + "...")
        fail(f"no user {shown!r} in [users] of {obj.config.path}: passwords are for configured users")
    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem is not None:
        fail(f"error: {problem}")
    hashed = hash_password(password)
    db = obj.open_store_db()
    with write_transaction(db):
        ended = set_password(db, name, hashed, time.time())
    click.echo(f"password set for {name}" + (f"; {ended} session(s) ended" if ended else ""))


@users_cmd.command("list")
@config_option
@click.pass_obj
def list_cmd(obj: Any) -> None:
    """The configured users, whether each is an admin and has a console password."""
    from alertd.web.auth import users_with_passwords

    with_password = users_with_passwords(obj.open_store_db())
    for name, user in obj.config.raw.users.items():
        flags = [f for f, on in (("admin", user.admin), ("password set", name in with_password)) if on]
        click.echo(f"{name}" + (f" ({', '.join(flags)})" if flags else ""))
