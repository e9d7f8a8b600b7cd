"""Housekeeping runs as an engine loop: APScheduler's trigger computes the next time, a row keeps
it, and no scheduler thread runs in the daemon."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alertd.engine.housekeeping import CHORES, next_fire, read_due, write_due
from alertd.store.schema import migrate
from helpers import DaemonProcess, wait_until, write_config
from inbound_fixtures import Db
from postgres import connect

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def test_next_fire_follows_the_trigger() -> None:
    assert next_fire(IntervalTrigger(minutes=60, timezone="UTC"), T0) == T0 + 3600
    daily = CronTrigger(hour=3, minute=0, timezone="Europe/Berlin")  # 03:00 in Berlin is 01:00 UTC in summer
    assert time.gmtime(next_fire(daily, T0))[3:5] == (1, 0)


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_due_time_is_a_row(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    migrate(db)
    assert read_due(db, "prune_inbound_log") is None
    write_due(db, "prune_inbound_log", T0 + 0.25, T0)
    write_due(db, "prune_inbound_log", T0 + 3600.5, T0)
    assert read_due(db, "prune_inbound_log") == T0 + 3600.5


def test_the_daemon_runs_no_scheduler_thread_and_stores_the_next_prune(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    started = time.time()
    with DaemonProcess(config) as daemon:
        rows = wait_until(
            lambda: db.rows("SELECT value FROM meta WHERE key = 'timer:prune_inbound_log'"), what="the timer row"
        )
        assert started + 3500 < float(rows[0]["value"]) < time.time() + 3700
        assert daemon.proc is not None
        threads = [p.read_text().strip() for p in Path(f"/proc/{daemon.proc.pid}/task").glob("*/comm")]
        assert threads and not any("APScheduler" in name for name in threads), threads
    assert [c.name for c in CHORES] == ["prune_inbound_log", "prune_reply_receipts"]


async def test_a_locked_database_does_not_stop_housekeeping_or_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In-process (tests/inprocess.py): the fake clock stands in for the retry's wait."""
    import sqlite3

    from alertd.engine.housekeeping import RETRY_SECONDS
    from inprocess import in_process

    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nbusy_timeout_seconds = 0.5\n"))
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        await app.wait_until(
            lambda: db.rows("SELECT value FROM meta WHERE key = 'timer:prune_inbound_log'"), what="the timer"
        )
        locker = sqlite3.connect(tmp_path / "alertd.db", isolation_level=None)
        # The prune is due now, and the database stays locked past the busy timeout when the loop
        # runs it: the pass fails, and the daemon must go on.
        locker.execute("UPDATE meta SET value = ? WHERE key = 'timer:prune_inbound_log'", [repr(app.clock.now() - 1)])
        locker.execute("BEGIN EXCLUSIVE")
        await app.advance(0)  # the loop looks now (it would within MAX_IDLE_SECONDS)
        await app.wait_until(
            lambda: any(r.getMessage() == "housekeeping.failed" for r in caplog.records),
            timeout=15,
            what="the failed pass",
        )
        locker.execute("COMMIT")
        locker.close()
        # It tries again (RETRY_SECONDS later) and stores the next prune an hour on; still serving.
        await app.advance(RETRY_SECONDS)
        rows = await app.wait_until(
            lambda: [
                r
                for r in db.rows("SELECT value FROM meta WHERE key = 'timer:prune_inbound_log'")
                if float(r["value"]) > app.clock.now() + 3000
            ],
            timeout=20,
            what="the next prune stored after the lock",
        )
        assert rows
        assert (await app.get("/healthz")).status_code == 200


async def test_reply_receipts_are_forgotten_after_their_retention(tmp_path: Path) -> None:
    from inprocess import in_process

    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nreply_receipt_retention_days = 30\n"))
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        now = app.clock.now()
        await app.runtime.store.write(
            lambda d: d.execute(
                "INSERT INTO reply_receipts (key, received_at) VALUES ('old', ?), ('recent', ?)",
                [now - 31 * 86400, now - 20 * 86400],
            )
        )
        await app.wait_until(lambda: db.rows("SELECT 1 FROM meta WHERE key = 'timer:prune_reply_receipts'"))
        assert len(db.rows("SELECT key FROM reply_receipts")) == 2  # first due a day after start
        await app.advance(86400 + 60)
        await app.wait_until(
            lambda: [r["key"] for r in db.rows("SELECT key FROM reply_receipts")] == ["recent"],
            what="the old receipt pruned",
        )
