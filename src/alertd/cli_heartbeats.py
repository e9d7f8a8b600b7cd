"""``alertd heartbeats``: each heartbeat's secret ping URL, its timer and its state."""

from __future__ import annotations

import time
from typing import Any

import click

# The command's shared options come from alertd.cli, which imports this module (see register).


def heartbeat_rows(obj: Any) -> list[dict[str, Any]]:
    from alertd import heartbeats
    from alertd.store import write_transaction

    config = obj.config
    db = obj.open_store_db()
    with write_transaction(db):
        tokens = heartbeats.ensure_heartbeat_tokens(db, config)
    return [
        {"name": item["name"], "url": heartbeats.heartbeat_url(config, tokens[item["name"]]), **item}
        for item in heartbeats.listing(config, heartbeats.status(db))
    ]


def show(out: list[dict[str, Any]], zone: Any) -> None:
    from alertd.textout import age, local_time

    if not out:
        click.echo("no heartbeats configured")
    now = time.time()
    for item in out:
        click.echo(f"{item['name']} [{item['state']}]")
        click.echo(f"    url:        {item['url']}")
        click.echo(
            f"    every:      {item['interval_minutes']:g} min, grace {item['grace_minutes']:g} min; "
            f"escalation: {item['escalation_policy'] or '-'}"
        )
        last = item["last_ping_at"]
        ping = (
            "never" if last is None else f"{local_time(last, zone)} ({age(now - last)} ago, {item['ping_count']} pings)"
        )
        click.echo(f"    last ping:  {ping}")
        if item["due_at"] is not None:
            click.echo(f"    missed at:  {local_time(item['due_at'], zone)} without a ping")
        if item["state"] == "missed" and item["alert_id"] is not None:
            click.echo(f"    alert:      #{item['alert_id']}")


def register(cli: click.Group, *, config_option: Any, tz_option: Any, echo_json: Any) -> None:
    """Add ``alertd heartbeats`` to ``cli`` (called by alertd.cli with its shared options)."""

    @cli.command("heartbeats")
    @config_option
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @tz_option
    @click.pass_obj
    def heartbeats_cmd(obj: Any, as_json: bool, zone: Any) -> None:
        """Each heartbeat's secret URL (GET or POST to ping), state, last ping and deadline."""
        out = heartbeat_rows(obj)
        if as_json:
            echo_json(out)
        else:
            show(out, zone)
