"""``alertd snooze / unack / escalate / reassign / note / merge``: the alert actions from the command line.

Like ``ack`` and ``close`` they write straight into the database (beside a running daemon or
without one); the daemon's dispatcher picks up their events within a second or so.
"""

from __future__ import annotations

import re
from typing import Any

import click

from alertd.cli_common import ROW_ID, cli_actor, config_option

USER_HELP = "The configured user who acts (default: recorded as cli:<login>)."
DURATION_RE = re.compile(r"^(\d{1,6}(?:\.\d{1,3})?)\s*([mhd]?)$")


def parse_duration(text: str) -> float:
    """``30m``, ``2h``, ``1d`` or a bare number of minutes -> seconds."""
    match = DURATION_RE.fullmatch(text.strip().lower())
    if not match:
        raise click.BadParameter("expected a duration like 30m, 2h or 1d (a bare number is minutes)")
    return float(match.group(1)) * {"": 60, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _act(obj: Any, action: str, alert_id: int, user: str | None, **args: Any) -> None:
    import time

    from alertd.commands import AlertCommandError, apply_action
    from alertd.store import write_transaction
    from alertd.textout import visible

    actor = cli_actor(obj, user)
    raw = obj.config.raw
    db = obj.open_store_db()
    try:
        with write_transaction(db):
            alert = apply_action(db, raw, action, alert_id, actor, "cli", time.time(), **args)
    except AlertCommandError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"#{alert_id} {alert['status']} ({action} by {visible(actor)}): {visible(alert['title'])}")


def user_option(fn: Any) -> Any:
    return click.option("--user", help=USER_HELP)(fn)


@click.command("snooze")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.argument("duration")
@user_option
@click.pass_obj
def snooze_cmd(obj: Any, alert_id: int, duration: str, user: str | None) -> None:
    """Acknowledge for DURATION (30m, 2h, 1d); then the alert is open and escalates again."""
    try:
        seconds = parse_duration(duration)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="DURATION") from None
    _act(obj, "snooze", alert_id, user, seconds=seconds)


@click.command("unack")
@config_option
@click.argument("alert_id", type=ROW_ID)
@user_option
@click.pass_obj
def unack_cmd(obj: Any, alert_id: int, user: str | None) -> None:
    """Un-acknowledge: the alert is open again and escalates from its first level."""
    _act(obj, "unack", alert_id, user)


@click.command("escalate")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.option("--level", type=click.IntRange(1, 100), help="The level to page now (1 = the first); default the next.")
@user_option
@click.pass_obj
def escalate_cmd(obj: Any, alert_id: int, level: int | None, user: str | None) -> None:
    """Escalate now: page the next level of the alert's policy (or --level N) at once."""
    _act(obj, "escalate", alert_id, user, level=level)


@click.command("reassign")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.argument("policy")
@user_option
@click.pass_obj
def reassign_cmd(obj: Any, alert_id: int, policy: str, user: str | None) -> None:
    """Switch the alert to escalation POLICY (an open alert escalates on it from its first level)."""
    _act(obj, "reassign", alert_id, user, policy=policy)


@click.command("note")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.argument("text", nargs=-1, required=True)
@user_option
@click.pass_obj
def note_cmd(obj: Any, alert_id: int, text: tuple[str, ...], user: str | None) -> None:
    """Add a note to the alert's timeline."""
    _act(obj, "note", alert_id, user, text=" ".join(text))


@click.command("merge")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.argument("into_word", metavar="INTO", type=click.Choice(["into", "INTO"]))
@click.argument("target", type=ROW_ID)
@user_option
@click.pass_obj
def merge_cmd(obj: Any, alert_id: int, into_word: str, target: int, user: str | None) -> None:
    """Merge duplicate ALERT_ID into TARGET: it closes with a link; later messages for its source append to TARGET."""
    _act(obj, "merge", alert_id, user, into=target)


COMMANDS = (snooze_cmd, unack_cmd, escalate_cmd, reassign_cmd, note_cmd, merge_cmd)
