"""Housekeeping runs as an engine loop: APScheduler's trigger computes the next time, a row keeps
it, and no scheduler thread runs in the daemon."""

from __future__ import annotations

import time
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alertd.engine.housekeeping import CHORES, next_fire, read_due, write_due
from alertd.store import connect
from alertd.store.schema import migrate
from helpers import DaemonProcess, wait_until, write_config
from inbound_fixtures import Db

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC


def test_next_fire_follows_the_trigger() -> None:
    assert next_fire(IntervalTrigger(minutes=60, timezone="UTC"), T0) == T0 + 3600
    daily = CronTrigger(hour=3, minute=0, timezone="Europe/Berlin")  # 03:00 in Berlin is 01:00 UTC in summer
    assert time.gmtime(next_fire(daily, T0))[3:5] == (1, 0)


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
    assert [c.name for c in CHORES] == ["prune_inbound_log"]
