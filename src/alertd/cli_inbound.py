"""``alertd inbound-log [show ID]``: the inbound log, newest first (a module of its own: imported on use)."""

from __future__ import annotations

from typing import Any

import click

from alertd.cli_common import ROW_ID, CliError, config_option, echo_json, parse_since, tz_option


@click.group("inbound-log", invoke_without_command=True)
@config_option
@click.option("--integration", help="Only this integration.")
@click.option("--outcome", help="Only this outcome, any case (e.g. 'mapped open', rejected).")
@click.option("--since", help="Only rows since: 2h, 30m, 7d, or an ISO time (without offset: in the --tz zone).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Rows at most.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@tz_option
@click.pass_context
def inbound_log(
    ctx: click.Context,
    integration: str | None,
    outcome: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    zone: Any,
) -> None:
    """List the inbound log, newest first (``inbound-log show ID`` for one row)."""
    if ctx.invoked_subcommand is not None:
        return
    import time

    from alertd import ledger
    from alertd.views import inbound_table, match_outcome

    obj: Any = ctx.obj
    db = obj.open_read_db()
    if outcome is not None:
        from alertd.decisions import OUTCOMES

        try:
            outcome = match_outcome(outcome, OUTCOMES)
        except ValueError:
            # Not one of the core's: perhaps a plugin's or a newer version's, found in the log.
            stored = [row[0] for row in db.execute("SELECT DISTINCT outcome FROM inbound_log") if row[0]]
            try:
                outcome = match_outcome(outcome, [*OUTCOMES, *stored])
            except ValueError as exc:
                raise CliError(f"--outcome: {exc}") from None
    rows = ledger.query(db, integration=integration, outcome=outcome, since=parse_since(since, zone), limit=limit)
    if as_json:
        echo_json(rows)
        return
    for line in inbound_table(rows, zone, time.time()):
        click.echo(line)


@inbound_log.command("show")
@config_option
@click.argument("inbound_id", type=ROW_ID)
@tz_option
@click.pass_obj
def inbound_show(obj: Any, inbound_id: int, zone: Any) -> None:
    """One inbound message with its headers and body (control characters shown as escapes)."""
    from alertd import ledger
    from alertd.views import inbound_detail

    row = ledger.get(obj.open_read_db(), inbound_id)
    if row is None:
        raise click.ClickException(f"no inbound message #{inbound_id}")
    for line in inbound_detail(row, zone):
        click.echo(line)
