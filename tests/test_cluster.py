"""Several instances on one database (issue 14): claims under a lease, named locks, instance rows,
the dispatcher once per cluster, idle loops that do not write, /readyz when the database is gone.

The claim decisions run on a real SQLite file with two connections standing for two instances;
the daemon's behaviour runs in-process (tests/inprocess.py), two daemons in one trio run sharing
one database file. The SIGKILL test of whole processes is tests/test_cluster_crash.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from alertd import apply, claims, escalation, instances, outbox
from alertd.config import ConfigError, build_config, load_config
from alertd.mapping import Decision
from alertd.plugins import make_manager
from alertd.store import connect, write_transaction
from alertd.store.schema import migrate
from helpers import ROOT, run_cli_in_process, write_config
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import InProcess, in_process
from postgres import PgDb, on_url
from sns_signing import headers_for, notification

T0 = 1_800_000_000.0
USERS = 12


def outbox_db(tmp_path: Path) -> tuple[Path, int]:
    """A database with one alert whose first step queued USERS due email rows."""
    people = {f"u{i}": {"contact": {"email": f"u{i}@x"}} for i in range(USERS)}
    data: dict[str, Any] = {"users": people, "escalation_policies": {"p": {"levels": [{"users": list(people)}]}}}
    config = build_config(tmp_path / "a.toml", data, None)
    path = tmp_path / "o.db"
    db = connect(path)
    migrate(db)
    with db.atomic():
        alert_id = apply.open_alert(db, "i", "p", Decision("open", "Mapped Open", source_id="s", title="t"), None, T0)
    with db.atomic():
        assert escalation.fire_due(db, config, T0)[1] == USERS
    db.conn.close()
    return path, alert_id


def claim(db: Any, holder: str, now: float, lease: float | None = 10, limit: int = 100) -> list[int]:
    with write_transaction(db):
        return [r["id"] for r in outbox.claim_due(db, now, limit, holder=holder, lease=lease)]


def test_two_instances_claiming_the_same_due_rows_get_disjoint_sets(tmp_path: Path) -> None:
    path, _ = outbox_db(tmp_path)
    got: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def instance(name: str) -> None:
        db = connect(path)  # its own connection, as another process has
        start.wait()
        while batch := claim(db, name, T0, limit=1):
            got[name] += batch
        db.conn.close()

    threads = [threading.Thread(target=instance, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == USERS
    db = connect(path)
    holders = {r[0]: r[1] for r in db.execute("SELECT id, claimed_by FROM outbox WHERE status = 'sending'")}
    assert holders == {i: n for n in got for i in got[n]}


def test_an_expired_claim_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    path, _ = outbox_db(tmp_path)
    a, b = connect(path), connect(path)
    mine = claim(a, "a", T0, lease=10)
    assert len(mine) == USERS
    assert claim(b, "b", T0 + 9) == []  # a's lease runs until T0 + 10
    with write_transaction(a):
        claims.renew(a, "a", T0 + 9, 10)  # a is alive: its lease now runs until T0 + 19
    assert claim(b, "b", T0 + 15) == []
    # a stops renewing (dead): past the lease its rows go to b, in doubt (they may have gone out).
    taken = claim(b, "b", T0 + 20)
    assert sorted(taken) == sorted(mine)
    rows = b.execute("SELECT claimed_by, attempts, in_doubt, last_error FROM outbox").fetchall()
    assert {tuple(r) for r in rows} == {("b", 2, 1, "interrupted: its sender stopped before recording the result")}
    # a's late renewal does not take them back.
    with write_transaction(a):
        claims.renew(a, "a", T0 + 21, 10)
    assert {r[0] for r in b.execute("SELECT claimed_by FROM outbox")} == {"b"}


def test_an_instance_never_takes_its_own_rows_back_while_sending_them(tmp_path: Path) -> None:
    """Its own lease may look expired (a stalled renewal): it knows the sends are in flight."""
    path, _ = outbox_db(tmp_path)
    a = connect(path)
    claim(a, "a", T0, lease=10)
    assert claim(a, "a", T0 + 60) == []


def test_named_locks(tmp_path: Path) -> None:
    db = connect(tmp_path / "l.db")
    migrate(db)
    with write_transaction(db):
        assert claims.acquire(db, "dispatch", "a", T0, 10) == T0 + 10
        assert claims.acquire(db, "dispatch", "b", T0 + 5, 10) is None  # a live lease
        assert claims.acquire(db, "dispatch", "a", T0 + 5, 10) == T0 + 15  # the holder keeps it
        assert claims.renew(db, "a", T0 + 8, 10) == {"dispatch": T0 + 18}
        assert claims.acquire(db, "dispatch", "b", T0 + 18.5, 10) == T0 + 28.5  # expired: taken over
        assert claims.renew(db, "a", T0 + 19, 10) == {}  # a's late renewal finds nothing of its own
        assert claims.acquire(db, "housekeeping", "a", T0 + 19, 10) == T0 + 29  # another name
        claims.release(db, "dispatch", "b")
        assert claims.acquire(db, "dispatch", "a", T0 + 20, 10) == T0 + 30
    assert claims.lease_expired(None, T0) and claims.lease_expired(T0 - 1, T0) and not claims.lease_expired(T0, T0)


def test_a_restarted_daemon_reaps_its_dead_predecessor_on_this_host(tmp_path: Path) -> None:
    """kill -9 leaves the row and the claims; a new start on the same host whose predecessor's pid
    is gone ends its leases at once (no lease to wait out), while other live instances keep theirs."""
    path, _ = outbox_db(tmp_path)
    db = connect(path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    with write_transaction(db):
        instances.register(db, "dead", "0.1.0", "h", T0)
        db.execute("UPDATE instances SET pid = ? WHERE id = 'dead'", [dead_pid])
        instances.register(db, "alive", "0.1.0", "h", T0)  # this process: alive
    dead_rows = claim(db, "dead", T0, lease=30, limit=5)
    alive_rows = claim(db, "alive", T0, lease=30, limit=5)
    with write_transaction(db):
        claims.acquire(db, claims.DISPATCH, "dead", T0, 30)
        instances.register(db, "new", "0.1.0", "h", T0 + 1)
        assert instances.reap_local(db, "new") == ["dead"]
        assert outbox.requeue_interrupted(db, T0 + 1) == len(dead_rows)
        assert claims.acquire(db, claims.DISPATCH, "new", T0 + 1, 30) == T0 + 31
    pending = {r[0] for r in db.execute("SELECT id FROM outbox WHERE status = 'pending'")}
    assert set(dead_rows) <= pending and not set(alive_rows) & pending
    assert {r["id"] for r in instances.listing(db)} == {"alive", "new"}


def test_an_instance_on_another_machine_of_the_same_host_name_is_not_reaped(tmp_path: Path) -> None:
    """On a shared PostgreSQL two machines may have one host name and, as every machine's first pid
    namespace, one namespace inode: a pid is only judged on the kernel (boot) that counts it."""
    path, _ = outbox_db(tmp_path)
    db = connect(path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    namespace = instances.pid_namespace()
    assert " boot " in namespace
    elsewhere = namespace.split(" boot ")[0] + " boot 00000000-0000-0000-0000-000000000000"
    with write_transaction(db):
        instances.register(db, "twin", "0.1.0", "h", T0)
        db.execute("UPDATE instances SET pid = ?, pid_namespace = ? WHERE id = 'twin'", [int(gone.stdout), elsewhere])
        instances.register(db, "new", "0.1.0", "h", T0 + 1)
        assert instances.reap_local(db, "new") == []
    assert {r["id"] for r in instances.listing(db)} == {"twin", "new"}


@pytest.mark.parametrize("value", ["4", "601", '"soon"'])
def test_lease_seconds_out_of_bounds_is_a_config_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "alertd.toml"
    path.write_text(f"[cluster]\nlease_seconds = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, make_manager())
    assert "cluster.lease_seconds" in str(info.value)
    assert str(path) in str(info.value)


# --- in-process: two daemons on one database ---------------------------------------------------

POLICY = """
plugins_dir = "{plugins}"

[cluster]
lease_seconds = 5

[channels.recorder]
path = "{sent}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]
"""


def cluster_config(tmp_path: Path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "tests" / "event_plugins" / "event_log.py", plugins)
    shutil.copy(ROOT / "tests" / "plugins_dir" / "recorder.py", plugins)
    config = sns_config(tmp_path, alarms='escalation_policy = "ops"')
    config.write_text(POLICY.format(plugins=plugins, sent=tmp_path / "sent.jsonl") + config.read_text())
    return config


def alarm(name: str) -> dict[str, Any]:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    data = json.loads(message)
    data["AlarmArn"] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    return notification(json.dumps(data))


async def open_alarm(app: InProcess, name: str) -> None:
    envelope = alarm(name)
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text


def heard(log: Path) -> list[int]:
    return [json.loads(line)["id"] for line in log.read_text().splitlines()] if log.exists() else []


def backend_connect(tmp_path: Path, config: Path, store_backend: str, request: pytest.FixtureRequest) -> Any:
    """A migrated connection to the test's database: the config's SQLite file, or (postgresql) a
    fresh PostgreSQL database the config is pointed at."""
    if store_backend == "postgresql":
        from alertd.store import postgres

        url = request.getfixturevalue("pg_url")
        on_url(config, url)
        return postgres.connect(url)
    db = connect(tmp_path / "alertd.db")
    migrate(db)
    return db


async def test_events_reach_plugins_once_per_cluster_and_the_follower_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_backend: str, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("ALERTD_TEST_EVENT_LOG", str(log))
    config = cluster_config(tmp_path)
    db: Db | PgDb = Db(tmp_path / "alertd.db")
    if store_backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        on_url(config, url)
        db = PgDb(url)

    async def instance(stop: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with in_process(config) as app:
            task_status.started(app)
            await stop.wait()

    async with trio.open_nursery() as nursery:
        stop_a, stop_b = trio.Event(), trio.Event()
        a = await nursery.start(instance, stop_a)
        await a.wait_until(lambda: claims.DISPATCH in a.runtime.cluster.held, what="a leads")
        b = await nursery.start(instance, stop_b)
        await b.wait_until(lambda: b.runtime.cluster.registered.is_set(), what="b registered")
        assert len(db.rows("SELECT * FROM instances")) == 2
        for i in range(6):
            await open_alarm(a if i % 2 else b, f"first-{i}")
        ids = [r["id"] for r in db.rows("SELECT id FROM alert_events ORDER BY id")]
        await a.wait_until(lambda: set(heard(log)) >= set(ids), what="every event heard")
        assert claims.DISPATCH not in b.runtime.cluster.held
        # a stops cleanly: its row and lock go at once; b leads from the saved cursor.
        stop_a.set()
        me = b.runtime.cluster.instance
        await b.wait_until(lambda: [r["id"] for r in db.rows("SELECT id FROM instances")] == [me], what="a gone")
        for i in range(3):
            await open_alarm(b, f"second-{i}")
        ids = [r["id"] for r in db.rows("SELECT id FROM alert_events ORDER BY id")]
        await b.wait_until(lambda: set(heard(log)) >= set(ids), what="b dispatches", timeout=30)
        stop_b.set()
    counts = {i: heard(log).count(i) for i in ids}
    assert set(counts.values()) == {1}, counts  # none twice (a saved its cursor at its stop)


async def test_a_live_lock_holder_is_waited_for_and_an_expired_one_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_backend: str, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("ALERTD_TEST_EVENT_LOG", str(log))
    config = cluster_config(tmp_path)
    db = backend_connect(tmp_path, config, store_backend, request)
    with write_transaction(db):  # an instance on another host, killed a moment ago
        claims.acquire(db, claims.DISPATCH, "ghost", time.time(), 5)
    async with in_process(config) as app:
        await open_alarm(app, "held")
        sent = tmp_path / "sent.jsonl"
        # The page goes out (loops run on every instance) but plugins hear nothing: ghost's lease.
        await app.wait_until(sent.exists, what="the page")
        assert heard(log) == []
        await app.advance(6)  # past ghost's lease
        await app.wait_until(lambda: heard(log), what="dispatch taken over")
        assert db.execute("SELECT holder FROM locks WHERE name = 'dispatch'").fetchone()[0] == (
            app.runtime.cluster.instance
        )


async def test_a_send_claimed_by_a_dead_instance_is_sent_again_after_its_lease(
    tmp_path: Path, store_backend: str, request: pytest.FixtureRequest
) -> None:
    """A row left 'sending' by an instance that stopped renewing: the live one waits while the
    claim's lease runs, then sends it again (in doubt, same idempotency key)."""
    config = cluster_config(tmp_path)
    sent = tmp_path / "sent.jsonl"
    db = backend_connect(tmp_path, config, store_backend, request)

    def pages() -> list[str]:
        return [json.loads(line)["key"] for line in sent.read_text().splitlines()] if sent.exists() else []

    async with in_process(config) as app:
        await open_alarm(app, "ghost-send")
        await app.wait_until(lambda: len(pages()) == 1, what="the page")
        await app.wait_until(lambda: db.execute("SELECT status FROM outbox").fetchone()[0] == "sent", what="sent")
        # As if another instance had claimed it and died mid-send.
        with write_transaction(db):
            db.execute(
                "UPDATE outbox SET status = 'sending', claimed_by = 'ghost', claim_until = ?", [app.clock.now() + 60]
            )
        await app.advance(30)  # the lease still runs: the live instance leaves it alone
        woken = app.runtime.wakeups["delivery"]
        await app.wait_until(lambda: app.runtime.wakeups["delivery"] is not woken, what="the woken pass")
        polled = app.runtime.wakeups["delivery"]
        await app.wait_until(lambda: app.runtime.wakeups["delivery"] is not polled, what="the next pass")
        assert len(pages()) == 1
        await app.advance(31)
        await app.wait_until(lambda: len(pages()) == 2, what="sent again")
        assert pages()[0] == pages()[1]
        await app.wait_until(lambda: db.execute("SELECT status FROM outbox").fetchone()[0] == "sent", what="settled")
        row = db.execute("SELECT attempts, in_doubt, claimed_by FROM outbox").fetchone()
        assert tuple(row) == (2, 1, app.runtime.cluster.instance)


async def test_an_instance_reports_the_config_it_runs_after_a_reload(tmp_path: Path) -> None:
    from alertd.reload import reload_config
    from alertd.sdnotify import Notifier

    config = write_config(tmp_path, "[cluster]\nlease_seconds = 5\n")
    db = Db(tmp_path / "alertd.db")

    def reported() -> str:
        rows = db.rows("SELECT config_hash FROM instances")
        return rows[0]["config_hash"] if rows else ""

    async with in_process(config) as app:
        await app.wait_until(lambda: reported() == instances.config_hash(config), what="the first hash")
        config.write_text(config.read_text() + "\n[users.zoe]\ncontact = { email = 'zoe@example.com' }\n")

        async def refresh() -> None:
            return None

        assert await reload_config(config, app.runtime, Notifier(), refresh)
        await app.wait_until(lambda: reported() == instances.config_hash(config), what="the new hash", timeout=10)


IDLE = """
[cluster]
lease_seconds = 600

[heartbeats.nightly]
interval_minutes = 600
"""


async def test_an_idle_daemon_does_not_write(tmp_path: Path) -> None:
    """Every loop polls (MAX_IDLE_SECONDS) and finds nothing due: no commit at all."""
    config = write_config(tmp_path, IDLE)
    async with in_process(config) as app:
        runtime = app.runtime
        await app.wait_until(lambda: len(runtime.cluster.held) == 2, what="dispatch and housekeeping held")

        async def every_loop_polls() -> None:
            # A loop makes a new wake-up event as each pass starts.
            before = dict(runtime.wakeups)
            await app.wait_until(lambda: all(runtime.wakeups[n] is not e for n, e in before.items()), what="polls")

        await every_loop_polls()
        await every_loop_polls()  # the first passes (start-up's writes) have finished
        commits = runtime.store.writer.commits
        for _ in range(2):
            await every_loop_polls()
        assert runtime.store.writer.commits == commits
        assert {"events", "escalation", "delivery", "heartbeats", "maintenance_windows", "handoffs"} <= set(
            runtime.wakeups
        )


async def test_readyz_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """The database's directory goes away (a lost mount): open connections keep their files, a
    new one cannot open the path, nor create a new empty database there."""
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(tmp_path / "alertd.db"), str(tmp_path / "data" / "alertd.db")))
    (tmp_path / "data").mkdir()
    async with in_process(config) as app:
        assert (await app.get("/readyz")).text == "ready\n"
        # Every loop past its start (the dispatcher reads its cursor first, then takes its lock).
        await app.wait_until(lambda: claims.DISPATCH in app.runtime.cluster.held, what="started")
        (tmp_path / "data").rename(tmp_path / "moved")
        try:
            response = await app.get("/readyz")
            assert response.status_code == 503
            assert response.text == "not ready: database unreachable: unable to open database file\n"
            assert (await app.get("/healthz")).status_code == 200  # alive, just not to be sent traffic
        finally:
            (tmp_path / "moved").rename(tmp_path / "data")
        assert (await app.get("/readyz")).status_code == 200


# --- alertd cluster, check-config ---------------------------------------------------------------


def test_cluster_lists_instances_what_they_hold_and_config_drift(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[cluster]\nlease_seconds = 30\n")
    mine = instances.config_hash(config)
    db = connect(tmp_path / "alertd.db")
    migrate(db)
    now = time.time()
    with write_transaction(db):
        instances.register(db, "web-1", "0.1.0", mine, now - 200)
        instances.register(db, "web-2", "0.1.0", "f" * 64, now - 100)
        db.execute("UPDATE instances SET last_seen = ? WHERE id = 'web-1'", [now - 5])
        db.execute("UPDATE instances SET last_seen = ? WHERE id = 'web-2'", [now - 3])
        instances.register(db, "gone-3", "0.0.9", "e" * 64, now - 900)  # stale: not seen for 15 min
        claims.acquire(db, claims.DISPATCH, "web-1", now, 30)
        claims.acquire(db, claims.HOUSEKEEPING, "web-2", now, 30)
    result = run_cli_in_process("cluster", "-c", str(config), "--tz", "UTC")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["INSTANCE", "HOST", "PID", "VERSION", "CONFIG", "STARTED", "LAST", "SEEN", "HOLDS"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == {"web-1", "web-2", "gone-3"}
    assert rows["web-1"].endswith("lock dispatch") and mine[:12] in rows["web-1"]
    assert rows["web-2"].endswith("lock housekeeping") and " stale" not in rows["web-2"]
    assert "(15m ago) stale" in rows["gone-3"] and rows["gone-3"].endswith("-")
    column = lines[0].index("VERSION")  # aligned columns
    assert [line[column : column + 5] for line in lines[1:4]] == ["0.0.9", "0.1.0", "0.1.0"]
    assert lines[4] == "(UTC times; stale: not seen for more than the lease, 30 s)"
    # Two live instances disagree about the config (the stale one is not counted).
    assert result.stderr.strip() == (
        f"warning: live instances run different config files (sha256 {mine[:12]} on 1, {'f' * 12} on 1); "
        "make them agree and reload"
    )
    # check-config names the live instance whose file differs from the one checked.
    checked = run_cli_in_process("check-config", "-c", str(config))
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip().startswith("warning: live instance web-2 on ")
    assert f"(sha256 {'f' * 12}, this file {mine[:12]})" in checked.stderr
    listed = json.loads(run_cli_in_process("cluster", "-c", str(config), "--json").stdout)
    assert {r["id"]: r["stale"] for r in listed} == {"web-1": False, "web-2": False, "gone-3": True}


def test_cluster_without_instances(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_cli_in_process("cluster", "-c", str(config))
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "no instances running (each `alertd run` on this database lists itself here)\n",
        "",
    )
