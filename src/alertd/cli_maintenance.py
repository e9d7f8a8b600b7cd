"""``alertd maintenance``: list, add and end maintenance windows (alerts open without paging)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import click

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class MaintenanceError(click.ClickException):
    """One line on stderr, exit 2."""

    exit_code = 2


def parse_duration(text: str) -> float:
    match = DURATION_RE.match(text.strip())
    if not match:
        raise MaintenanceError(f"--for: expected a duration like 30m, 2h, 1d; found {text[:40]!r}")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


def parse_time(text: str, zone: Any, option: str) -> float:
    """``now`` or an ISO 8601 time (without an offset: in ``zone``)."""
    if text.strip().lower() == "now":
        return time.time()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise MaintenanceError(
            f"{option}: expected an ISO time like 2026-11-28T02:00 or 'now'; found {text[:40]!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def window_span(start: str | None, end: str | None, duration: str | None, zone: Any, now: float) -> tuple[float, float]:
    """(starts_at, ends_at) from --start/--end/--for, or the reason they do not make a window."""
    from alertd.maintenance_windows import MAX_WINDOW_SECONDS

    if (end is None) == (duration is None):
        raise MaintenanceError("give either --end or --for (how long the window lasts)")
    starts_at = now if start is None else parse_time(start, zone, "--start")
    ends_at = parse_time(end, zone, "--end") if end is not None else starts_at + parse_duration(duration or "")
    if ends_at <= max(starts_at, now):
        raise MaintenanceError("the window must end after its start and in the future")
    if ends_at - starts_at > MAX_WINDOW_SECONDS:
        raise MaintenanceError("a window lasts at most 31 days")
    return starts_at, ends_at


def applies_to(row: dict[str, Any]) -> str:
    what = ", ".join(row["integrations"])
    match = row["match"]
    if match:
        what += f" where {match['field']}={match['equals']}" if set(match) == {"field", "equals"} else " (matching)"
    return what


def window_lines(rows: list[dict[str, Any]], zone: Any, now: float) -> list[str]:
    from alertd.textout import shorten, table, zone_abbreviation

    if not rows:
        return ["no maintenance windows"]
    body = []
    for r in rows:
        what = shorten(applies_to(r), 30)
        body.append(
            [
                f"#{r['id']}",
                r["name"] or "-",
                r["state"],
                datetime.fromtimestamp(r["starts_at"], zone).strftime("%b %d %H:%M"),
                datetime.fromtimestamp(r["ends_at"], zone).strftime("%b %d %H:%M"),
                r["on_end"],
                what,
                r["reason"],
            ]
        )
    tz = zone_abbreviation(zone, now)
    header = ["ID", "NAME", "STATE", f"STARTS ({tz})", f"ENDS ({tz})", "ON END", "APPLIES TO", "REASON"]
    return table(header, body, width=100)


def register(cli: click.Group, *, config_option: Any, tz_option: Any, echo_json: Any, cli_actor: Any) -> None:
    """Add ``alertd maintenance [add|end]`` to ``cli`` (called by alertd.cli with its shared options)."""

    @cli.group("maintenance", invoke_without_command=True)
    @config_option
    @click.option("--all", "include_ended", is_flag=True, help="Include ended windows.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @tz_option
    @click.pass_context
    def maintenance_cmd(ctx: click.Context, include_ended: bool, as_json: bool, zone: Any) -> None:
        """Maintenance windows in progress and to come (``add`` one, ``end`` one early).

        While a window applies, messages of its integrations are received, logged and mapped and
        alerts open and close, but nobody is paged; when it ends, alerts still open start paging
        (or stay quiet: --on-end quiet). Recurring windows are [maintenance.NAME] in the config.
        """
        if ctx.invoked_subcommand is not None:
            return
        from alertd import maintenance_windows

        now = time.time()
        rows = maintenance_windows.listing(ctx.obj.open_store_db(), now, include_ended=include_ended)
        if as_json:
            echo_json(rows)
            return
        for line in window_lines(rows, zone, now):
            click.echo(line)

    @maintenance_cmd.command("add")
    @config_option
    @click.option("--integration", "integrations", multiple=True, required=True, help="An integration (repeatable).")
    @click.option("--match", "match_text", help="Only messages whose FIELD (a rules path, a^b) equals VALUE.")
    @click.option("--start", help="ISO time (without offset: in the --tz zone) or 'now' (default).")
    @click.option("--end", help="ISO time (without offset: in the --tz zone).")
    @click.option("--for", "duration", help="How long, instead of --end: 30m, 2h, 1d.")
    @click.option("--reason", required=True, help="Why (shown with the window).")
    @click.option("--on-end", type=click.Choice(["page", "quiet"]), default="page", show_default=True)
    @click.option("--user", help="The configured user adding it (default: recorded as cli:<login>).")
    @tz_option
    @click.pass_obj
    def add_cmd(
        obj: Any,
        integrations: tuple[str, ...],
        match_text: str | None,
        start: str | None,
        end: str | None,
        duration: str | None,
        reason: str,
        on_end: str,
        user: str | None,
        zone: Any,
    ) -> None:
        """Add a maintenance window for one or more integrations."""
        from alertd import maintenance_windows
        from alertd.store import write_transaction

        known = maintenance_windows.targets(obj.config)
        for name in integrations:
            if name not in known:
                raise MaintenanceError(
                    f"--integration: no integration named {name!r} (known: {', '.join(known) or 'none'})"
                )
        match = None
        if match_text is not None:
            try:
                match = maintenance_windows.parse_match(match_text)
            except ValueError as exc:
                raise MaintenanceError(f"--match: {exc}") from None
        if not reason.strip() or len(reason) > maintenance_windows.MAX_REASON_CHARS:
            raise MaintenanceError(f"--reason: expected 1 to {maintenance_windows.MAX_REASON_CHARS} characters")
        now = time.time()
        starts_at, ends_at = window_span(start, end, duration, zone, now)
        actor = cli_actor(obj, user)
        db = obj.open_store_db()
        with write_transaction(db):
            window_id = maintenance_windows.add(
                db,
                integrations=list(dict.fromkeys(integrations)),
                match=match,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason.strip(),
                on_end=on_end,
                actor=actor,
                now=now,
            )
        from alertd.textout import local_time, visible

        click.echo(
            f"#{window_id} added: {visible(applies_to(maintenance_windows.get(db, window_id) or {}))} "
            f"from {local_time(starts_at, zone)} to {local_time(ends_at, zone)}, then {on_end}: {visible(reason)}"
        )

    @maintenance_cmd.command("end")
    @config_option
    @click.argument("window_id", type=click.IntRange(1, 2**63 - 1))
    @click.option("--user", help="The configured user ending it (default: recorded as cli:<login>).")
    @click.pass_obj
    def end_cmd(obj: Any, window_id: int, user: str | None) -> None:
        """End a maintenance window now: the open alerts it held page (or stay quiet, per its on-end)."""
        from alertd import maintenance_windows
        from alertd.store import write_transaction

        actor = cli_actor(obj, user)
        db = obj.open_store_db()
        now = time.time()
        with write_transaction(db):
            row = maintenance_windows.get(db, window_id)
            if row is None:
                raise MaintenanceError(f"no maintenance window #{window_id}")
            if row["ended_at"] is not None:
                raise MaintenanceError(f"maintenance window #{window_id} has already ended")
            events = maintenance_windows.end(db, window_id, now, actor)
        then = "now page" if row["on_end"] == "page" else "stay quiet"
        click.echo(f"#{window_id} ended; {len(events)} open alert(s) it held {then}")
