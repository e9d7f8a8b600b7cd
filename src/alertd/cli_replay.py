"""``alertd replay --integration NAME --since 2h [--outcome Unmapped] [--apply]``: stored inbound
messages through the current rules (alertd.replay). Without --apply, what would change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NoReturn

import click


class ReplayUsageError(click.ClickException):
    """One line on stderr, exit 2 (like cli.CliError; this module is imported by cli.py)."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    raise ReplayUsageError(message)


def _config_path(ctx: click.Context, _param: Any, value: Path | None) -> None:
    # `alertd replay -c FILE` as well as `alertd -c FILE replay` (cli.config_option's behaviour).
    if value is not None:
        ctx.find_root().obj.config_path = value


@click.command("replay")
@click.option(
    "-c",
    "--config",
    type=click.Path(path_type=Path),
    expose_value=False,
    callback=_config_path,
    is_eager=True,
    help="Configuration file.",
)
@click.option("--integration", "name", required=True, help="The integration whose messages to replay.")
@click.option("--since", required=True, help="How far back: 30m, 2h, 7d (at most 31d).")
@click.option("--outcome", help="Only messages with this outcome (any case), e.g. Unmapped, Filtered, Counted.")
@click.option("--apply", "do_apply", is_flag=True, help="Record and apply the new decisions (default: show them).")
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Refuse to replay more messages than this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def replay_cmd(obj: Any, name: str, since: str, outcome: str | None, do_apply: bool, limit: int, as_json: bool) -> None:
    """Re-run stored inbound messages through the current rules, in their original order.

    Without --apply: old outcome -> new outcome per message, nothing written. With --apply: each
    new decision is a new inbound-log row linked to its original and is applied (an alert that
    opens and closes again within the replay is recorded, not paged). A message already mapped
    is never applied twice."""
    from alertd import replay
    from alertd.durations import parse_duration
    from alertd.store import write_transaction

    try:
        seconds = parse_duration(since, least=1, most=replay.MAX_SINCE_SECONDS)
    except ValueError as exc:
        fail(f"--since: {exc}")
    config = obj.config
    integration = config.integrations.get(name)
    if integration is None:
        fail(f"--integration: no integration named {name!r} ({', '.join(sorted(config.integrations)) or 'none'})")
    db = obj.open_store_db()
    now = time.time()
    try:
        rows = replay.select_rows(db, name, now - seconds, outcome, limit)
    except replay.ReplayError as exc:
        fail(str(exc))
    evaluations = replay.evaluate_rows(integration, rows)
    with write_transaction(db):
        changes = replay.run(db, config, integration, rows, evaluations, now, apply=do_apply)
    if as_json:
        click.echo(json.dumps({"applied": do_apply, "changes": [c.as_dict() for c in changes]}, indent=2))
        return
    print_changes(changes, do_apply)


def print_changes(changes: list[Any], applied: bool) -> None:
    from alertd.textout import local_time, table, visible, zone_named

    if not changes:
        click.echo("no stored messages match")
        return
    zone = zone_named(None)
    header = ["INBOUND", "RECEIVED", "OLD OUTCOME", "", "NEW OUTCOME", "ALERT", "NOTE"]
    rows = [
        [
            f"#{c.inbound_id}",
            local_time(c.received_at, zone),
            c.old_outcome,
            "->",
            c.new_outcome,
            "-" if c.alert_id is None else f"#{c.alert_id}",
            visible(c.reason),
        ]
        for c in changes
    ]
    for line in table(header, rows, width=160):
        click.echo(line)
    replayed = [c for c in changes if c.new_outcome != "skipped"]
    differ = [c for c in replayed if c.new_outcome != c.old_outcome]
    if applied:
        click.echo(
            f"{len(replayed)} of {len(changes)} messages replayed and applied ({len(differ)} with a new outcome)"
        )
    else:
        click.echo(
            f"{len(differ)} of {len(changes)} messages would change; nothing was written (run again with --apply)"
        )
