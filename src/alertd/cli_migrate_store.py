"""``alertd migrate-store --from PATH.db --to postgresql://...``: copy a SQLite deployment into an
empty PostgreSQL database (store/sqlite_to_pg.py), verified by row counts per table. Offline:
stop the daemon first (the copy holds SQLite's write lock throughout)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NoReturn

import click

from alertd.store.pgurl import postgresql_url_problem
from alertd.store.sqlite_to_pg import MAX_PATH_CHARS


class MigrateUsageError(click.ClickException):
    """One line on stderr, exit 2 (like cli.CliError, without importing cli.py)."""

    exit_code = 2


def fail(message: str) -> NoReturn:
    raise MigrateUsageError(message)


def _source_path(_ctx: click.Context, _param: Any, value: str) -> Path:
    if len(value) > MAX_PATH_CHARS or "\x00" in value:
        raise click.BadParameter(f"a path of at most {MAX_PATH_CHARS} characters")
    return Path(value)


def _target_url(_ctx: click.Context, _param: Any, value: str) -> str:
    problem = postgresql_url_problem(value)
    if problem is not None:
        raise click.BadParameter(f"expected {problem}")  # never quotes the URL (it may hold a password)
    return value


@click.command("migrate-store")
@click.option("--from", "source", required=True, callback=_source_path, help="The SQLite database file.")
@click.option(
    "--to",
    "target",
    required=True,
    callback=_target_url,
    envvar="ALERTD_MIGRATE_TO",
    help="An empty PostgreSQL database: postgresql://user@host:port/database (or $ALERTD_MIGRATE_TO).",
)
def migrate_store_cmd(source: Path, target: str) -> None:
    """Copy a SQLite deployment into an empty PostgreSQL database (offline: stop the daemon first)."""
    from alertd.store.pgurl import redacted
    from alertd.store.sqlite_to_pg import MigrateError, copy_database, open_source
    from alertd.textout import table

    started = time.monotonic()
    try:
        db = open_source(source)
        try:
            counts = copy_database(db, target)
        finally:
            db.conn.close()
    except MigrateError as exc:
        fail(f"{exc}")

    def shown(value: int | None) -> str:
        return "-" if value is None else str(value)

    rows = [
        [
            c.table,
            str(c.source_rows),
            str(c.target_rows),
            shown(c.source_max_id),
            shown(c.target_max_id),
            "ok" if c.matches else "MISMATCH",
        ]
        for c in counts
    ]
    header = ["table", "rows in SQLite", "rows in PostgreSQL", "max id in SQLite", "max id in PostgreSQL", "check"]
    for line in table(header, rows, width=200):
        click.echo(line)
    bad = [c.table for c in counts if not c.matches]
    if bad:
        fail(f"counts differ for {', '.join(bad)}; nothing was kept in {redacted(target)}")
    total = sum(c.target_rows for c in counts)
    click.echo(
        f"copied {total} rows in {len(counts)} tables from {source} to {redacted(target)} "
        f"in {time.monotonic() - started:.1f} s"
    )
