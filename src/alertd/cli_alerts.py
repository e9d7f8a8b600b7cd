"""``alertd alerts [show ID]``, ``ack``, ``close``: what an operator types during an incident (a module of
its own: imported on use, with nothing of the other commands)."""

from __future__ import annotations

from typing import Any

import click

from alertd.cli_common import ROW_ID, cli_actor, config_option, echo_json, tz_option


@click.group("alerts", invoke_without_command=True)
@config_option
@click.option("--status", type=click.Choice(["open", "acknowledged", "closed"]), help="Only this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Rows at most.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@tz_option
@click.pass_context
def alerts_cmd(ctx: click.Context, status: str | None, limit: int, as_json: bool, zone: Any) -> None:
    """List alerts, newest first (``alerts show ID`` for one, with its timeline and plan)."""
    if ctx.invoked_subcommand is not None:
        return
    import time

    from alertd import alerts
    from alertd.views import alerts_table

    rows = alerts.list_alerts(ctx.obj.open_read_db(), status, limit)
    if as_json:
        echo_json(rows)
        return
    for line in alerts_table(rows, zone, time.time()):
        click.echo(line)


@alerts_cmd.command("show")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@tz_option
@click.pass_obj
def alerts_show(obj: Any, alert_id: int, as_json: bool, zone: Any) -> None:
    """One alert with its timeline in words, escalation plan and notifications."""
    from alertd.readmodel import alert_detail
    from alertd.views import alert_detail as alert_detail_lines

    data = alert_detail(obj.open_read_db(), alert_id)
    if data is None:
        raise click.ClickException(f"no alert #{alert_id}")
    if as_json:
        echo_json(data)
        return
    for line in alert_detail_lines(data, zone):
        click.echo(line)


def _alert_command(obj: Any, action: str, alert_id: int, user: str | None) -> None:
    import time

    from alertd.commands import AlertCommandError, apply_command
    from alertd.store import write_transaction

    actor = cli_actor(obj, user)
    db = obj.open_act_db()
    try:
        with write_transaction(db):
            alert = apply_command(db, action, alert_id, actor, "cli", time.time())
    except AlertCommandError as exc:
        raise click.ClickException(str(exc)) from None
    from alertd.textout import visible

    click.echo(f"#{alert_id} {alert['status']} by {visible(actor)}: {visible(alert['title'])}")


@click.command("ack")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.option("--user", help="The configured user who acknowledges (default: recorded as cli:<login>).")
@click.pass_obj
def ack_cmd(obj: Any, alert_id: int, user: str | None) -> None:
    """Acknowledge an alert: its escalation stops."""
    _alert_command(obj, "ack", alert_id, user)


@click.command("close")
@config_option
@click.argument("alert_id", type=ROW_ID)
@click.option("--user", help="The configured user who closes (default: recorded as cli:<login>).")
@click.pass_obj
def close_cmd(obj: Any, alert_id: int, user: str | None) -> None:
    """Close an alert: its escalation stops and pending notifications are cancelled."""
    _alert_command(obj, "close", alert_id, user)
