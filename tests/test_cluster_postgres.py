"""Several instances on one PostgreSQL database (issue 14): concurrent inbound on two instances,
and the wake-ups across instances by LISTEN/NOTIFY.

Two daemons run in one trio run (tests/inprocess.py), each with its own writer connection, pool
and listener, sharing a fresh database of tests/postgres.py's server. The SIGKILL test of whole
processes on both backends is tests/test_cluster_crash.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from alertd import claims, instances
from alertd.engine import events
from alertd.store import postgres
from helpers import run_cli_in_process, write_config
from inbound_fixtures import TOKEN
from inprocess import InProcess, in_process
from postgres import PgDb, on_url
from sns_signing import headers_for
from test_cluster import alarm, cluster_config


@asynccontextmanager
async def two_instances(config: Path) -> AsyncIterator[tuple[InProcess, InProcess]]:
    async def instance(stop: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with in_process(config) as app:
            task_status.started(app)
            await stop.wait()

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        a = await nursery.start(instance, stop)
        b = await nursery.start(instance, stop)
        for app in (a, b):
            await app.wait_until(lambda app=app: app.runtime.cluster.registered.is_set(), what="registered")
        yield a, b
        stop.set()


async def post_together(a: InProcess, b: InProcess, first: dict, second: dict) -> list[httpx.Response]:
    """``first`` to a and ``second`` to b at the same moment; both answers."""
    answers: list[httpx.Response] = []
    go = trio.Event()

    async def send(app: InProcess, envelope: dict) -> None:
        await go.wait()
        content = json.dumps(envelope).encode()
        answers.append(await app.post(f"/in/{TOKEN}", content=content, headers=headers_for(envelope)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, a, first)
        nursery.start_soon(send, b, second)
        await trio.sleep(0)
        go.set()
    return answers


async def test_two_instances_take_the_same_delivery_once_and_one_source_opens_one_alert(
    tmp_path: Path, pg_url: str
) -> None:
    config = cluster_config(tmp_path)
    on_url(config, pg_url)
    db = PgDb(pg_url)
    async with two_instances(config) as (a, b):
        envelope = alarm("same-delivery")  # SNS redelivers one MessageId to the other instance
        answers = await post_together(a, b, envelope, dict(envelope))
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        outcomes = sorted(
            (r["outcome"], r["accepted"]) for r in db.rows("SELECT outcome, accepted FROM inbound_log ORDER BY id")
        )
        assert outcomes == [("Duplicate Delivery", 0), ("Mapped Open", 1)]

        # Two different ALARM messages of one alarm (one source id), one on each instance.
        answers = await post_together(a, b, alarm("same-source"), alarm("same-source"))
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        rows = db.rows(
            "SELECT l.outcome, l.alert_id FROM inbound_log l JOIN alerts a ON a.id = l.alert_id "
            "WHERE a.source_id LIKE ? ORDER BY l.id",
            ["%same-source"],
        )
        assert sorted(r["outcome"] for r in rows) == ["Mapped Appended", "Mapped Open"], rows
        assert len({r["alert_id"] for r in rows}) == 1
        assert len(db.rows("SELECT id FROM alerts WHERE status = 'open' AND source_id LIKE ?", ["%same-source"])) == 1


async def test_a_commit_on_one_instance_wakes_the_other_before_its_poll(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The follower's dispatcher polls every POLL_SECONDS (here 30 s); another instance's commit
    reaches its loops (its listeners: the console's live view) by NOTIFY, within a second (the
    assertion allows 5 s: still far from the poll, with room for a loaded CI machine)."""
    monkeypatch.setattr(events, "POLL_SECONDS", 30.0)
    config = cluster_config(tmp_path)
    on_url(config, pg_url)
    async with two_instances(config) as (a, b):
        heard: list[tuple[float, list[str]]] = []
        b.runtime.listeners.append(lambda batch: heard.append((time.monotonic(), [e.kind for e in batch])))
        for app in (a, b):  # both past their start-up writes, each dispatcher waiting for a wake-up
            await app.wait_until(lambda app=app: "events" in app.runtime.wakeups, what="dispatcher waiting")
        await trio.sleep(0.5)
        heard.clear()
        envelope = alarm("wake-b")
        committed = time.monotonic()
        response = await a.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
        assert response.status_code == 200, response.text
        await b.wait_until(lambda: any("opened" in kinds for _, kinds in heard), timeout=10, what="b hears it")
        at = next(t for t, kinds in heard if "opened" in kinds)
        assert at - committed < 5.0, at - committed  # well before the 30 s poll (a margin for CI load)

        # The listeners' connections are lost (a failover, a restart): each listens again.
        def listeners(db: PgDb) -> list[dict]:
            return db.rows(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = ?",
                ["LISTEN alertd_events"],
            )

        db = PgDb(pg_url)
        before = {r["pid"] for r in listeners(db)}
        assert len(before) == 2
        db.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (?, ?)", sorted(before))
        await b.wait_until(
            lambda: len({r["pid"] for r in listeners(db)} - before) == 2, timeout=10, what="listening again"
        )
        heard.clear()
        envelope = alarm("wake-b-again")
        committed = time.monotonic()
        response = await a.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
        assert response.status_code == 200, response.text
        await b.wait_until(lambda: any("opened" in kinds for _, kinds in heard), timeout=10, what="b hears it again")
        at = next(t for t, kinds in heard if "opened" in kinds)
        assert at - committed < 5.0, at - committed  # well before the 30 s poll (a margin for CI load)


def test_cluster_and_check_config_read_the_instances_on_a_url(tmp_path: Path, pg_url: str) -> None:
    config = write_config(tmp_path, "[cluster]\nlease_seconds = 30\n")
    on_url(config, pg_url)
    mine = instances.config_hash(config)
    db = postgres.connect(pg_url)
    now = time.time()
    with db.transaction():
        instances.register(db, "web-1", "0.1.0", mine, now)
        instances.register(db, "web-2", "0.1.0", "f" * 64, now)
        claims.acquire(db, claims.DISPATCH, "web-1", now, 30)
    db.close()
    result = run_cli_in_process("cluster", "-c", str(config), "--tz", "UTC")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:3]}
    assert set(rows) == {"web-1", "web-2"} and rows["web-1"].endswith("lock dispatch")
    assert "live instances run different config files" in result.stderr
    checked = run_cli_in_process("check-config", "-c", str(config))
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip().startswith("warning: live instance web-2 on "), checked.stderr


def test_no_column_on_postgresql_is_a_four_byte_real(pg_url: str) -> None:
    """SQLite's REAL in a migration's DDL would be PostgreSQL's 4-byte ``real``: a Unix time to the
    nearest 128 s (leases and last-seen times that jump by minutes)."""
    rows = PgDb(pg_url).rows(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type = 'real'"
    )
    assert rows == []
    db = postgres.connect(pg_url)
    with db.transaction():
        instances.register(db, "web-1", "0.1.0", "", 1_795_661_833.25)
    assert PgDb(pg_url).rows("SELECT last_seen FROM instances") == [{"last_seen": 1_795_661_833.25}]
    db.close()
