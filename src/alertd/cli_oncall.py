"""``alertd oncall [SCHEDULE]``: who is on call, since and until when (a module of its own: imported on use)."""

from __future__ import annotations

from typing import Any

import click

from alertd.cli_common import config_option, echo_json


@click.command("oncall")
@config_option
@click.argument("schedule", required=False)
@click.option("--at", "at", help="When (ISO time; naive = the schedule's zone). Default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def oncall_cmd(obj: Any, schedule: str | None, at: str | None, as_json: bool) -> None:
    """Who is on call, since when and until when (every schedule, or one)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from alertd.directory import on_call
    from alertd.integrations import ensure_ical_tokens
    from alertd.store import write_transaction

    config = obj.tables("server", "schedules")
    schedules = config.raw.schedules
    if schedule is not None and schedule not in schedules:
        raise click.BadParameter(f"no schedule named {schedule!r} (known: {', '.join(schedules) or 'none'})")
    names = [schedule] if schedule else list(schedules)
    db = obj.open_act_db()  # plain sqlite3 (no sqlite-utils) when the schema is current
    with write_transaction(db):
        feeds = ensure_ical_tokens(db, config)  # type: ignore[arg-type]
    out = []
    for name in names:
        cfg = schedules[name]
        zone = ZoneInfo(cfg.timezone)
        if at is None:
            when = datetime.now(UTC)
        else:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise click.BadParameter("expected an ISO time like 2026-11-01T01:30", param_hint="--at") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone)
        (now,) = on_call(config.raw, when, only=name)
        out.append(
            {
                "schedule": name,
                "timezone": cfg.timezone,
                "at": when.astimezone(zone).isoformat(),
                "user": now["user"],
                "source": now["source"],
                "since": datetime.fromtimestamp(now["starts_at"], zone).isoformat() if now["user"] else None,
                "until": datetime.fromtimestamp(now["ends_at"], zone).isoformat() if now["user"] else None,
                "ical": f"{config.public_url}/schedules/{name}.ics?token={feeds[name]}",
            }
        )
    if as_json:
        echo_json(out)
        return
    for item in out:
        if item["user"] is None:
            click.echo(f"{item['schedule']}: nobody on call at {item['at']}")
        else:
            click.echo(
                f"{item['schedule']}: {item['user']} from {item['since']} until {item['until']} "
                f"({item['source']}, {item['timezone']})"
            )
        if schedule:
            click.echo(f"  iCal feed: {item['ical']}")
