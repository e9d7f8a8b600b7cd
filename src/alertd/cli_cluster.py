"""``alertd cluster``: the instances sharing this database (heartbeat rows), what each holds
(outbox rows it is sending, named locks), and a warning when live ones run different configs."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import click

from alertd.cli_common import config_option


def _live(rows: list[dict[str, Any]], now: float, lease: float) -> list[dict[str, Any]]:
    from alertd.instances import is_stale

    return [r for r in rows if not is_stale(r["last_seen"], now, lease)]


def drift(rows: list[dict[str, Any]], now: float, lease: float, mine: str | None = None) -> list[str]:
    """One warning line per live instance whose config file differs from the others' (or from
    ``mine``, the sha256 of the file the caller checks); [] when they agree."""
    live = _live(rows, now, lease)
    hashes = {r["config_hash"] for r in live}
    if mine is None and len(hashes) <= 1:
        return []
    if mine is not None:
        odd = [r for r in live if r["config_hash"] != mine]
        if not odd:
            return []
        return [
            f"warning: live instance {r['id']} on {r['host']} runs a different config (sha256 {r['config_hash'][:12]}, "
            f"this file {mine[:12]}); reload it (SIGHUP) once the files agree"
            for r in odd
        ]
    counts = {h: sum(1 for r in live if r["config_hash"] == h) for h in sorted(hashes)}
    spread = ", ".join(f"{h[:12] or '?'} on {n}" for h, n in counts.items())
    return [f"warning: live instances run different config files (sha256 {spread}); make them agree and reload"]


def _rows(db: Any) -> list[dict[str, Any]] | None:
    """The instance listing, or None when this database has no instance table yet."""
    from alertd.instances import listing

    try:
        return listing(db)
    except sqlite3.OperationalError:  # a database from before the cluster migration
        return None


def _pg_rows(url: str) -> list[dict[str, Any]] | None:
    """The instance listing of the PostgreSQL database at ``url``; None when it cannot be read (the
    store's own problems are reported by check-config's store check)."""
    from alertd.errors import StoreUnavailable
    from alertd.store.postgres import connect

    try:
        db = connect(url, connect_timeout=2)
    except StoreUnavailable:
        return None
    try:
        return _rows(db) if db.has_table("instances") else None
    except StoreUnavailable:
        return None
    finally:
        db.close()


def config_drift_warnings(config: Any) -> list[str]:
    """For ``check-config``: live instances on this file's database whose config differs from it."""
    from alertd.instances import config_hash

    url = getattr(config.raw.store, "url", None)
    rows = _pg_rows(url.get_secret_value()) if url is not None else _sqlite_rows(config.db_path)
    if not rows:
        return []
    return drift(rows, time.time(), config.raw.cluster.lease_seconds, config_hash(config.path))


def _sqlite_rows(path: Any) -> list[dict[str, Any]] | None:
    """The instance listing of the SQLite file at ``path``; None when it cannot be read (the
    store's own problems are reported by check-config's store check)."""
    from alertd.store.sqlite import open_connection

    if not path.exists():
        return None
    try:
        conn = open_connection(path, readonly=True, busy_timeout=2.0)
        try:
            return _rows(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


@click.command("cluster")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Times in this IANA zone (default: this machine's).")
@click.pass_obj
def cluster_cmd(obj: Any, as_json: bool, tz_name: str | None) -> None:
    """Instances sharing this database: host, version, config, last seen (stale past the lease)
    and what each holds."""
    from alertd.textout import age, local_time, table, zone_abbreviation, zone_named

    try:
        zone = zone_named(tz_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tz'") from None
    lease = obj.tables("cluster").raw.cluster.lease_seconds
    rows = _rows(obj.open_read_db()) or []
    now = time.time()
    live = {r["id"] for r in _live(rows, now, lease)}
    warnings = drift(rows, now, lease)
    if as_json:
        click.echo(json.dumps([{**r, "stale": r["id"] not in live} for r in rows], indent=2))
        for line in warnings:
            click.echo(line, err=True)
        return
    if not rows:
        click.echo("no instances running (each `alertd run` on this database lists itself here)")
        return
    lines = [
        [
            r["id"],
            r["host"],
            str(r["pid"]),
            r["version"],
            r["config_hash"][:12] or "?",
            local_time(r["started_at"], zone, with_zone=False),
            f"{local_time(r['last_seen'], zone, with_zone=False)} ({age(now - r['last_seen'])} ago)"
            + ("" if r["id"] in live else " stale"),
            "; ".join(f"{what}: {n}" if what.startswith("outbox") else what for what, n in r["held"]) or "-",
        ]
        for r in rows
    ]
    header = ["INSTANCE", "HOST", "PID", "VERSION", "CONFIG", "STARTED", "LAST SEEN", "HOLDS"]
    for line in table(header, lines, width=200):
        click.echo(line)
    click.echo(f"({zone_abbreviation(zone, now)} times; stale: not seen for more than the lease, {lease:g} s)")
    for line in warnings:
        click.echo(line, err=True)
