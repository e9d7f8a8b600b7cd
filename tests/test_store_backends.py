"""The store on both backends: the same schema, the same row semantics, the writer's guarantees.

PostgreSQL comes from tests/postgres.py (a server per test process, skipped with one line
without Debian's ``postgresql``; CI installs it and fails instead).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from alertd.errors import StoreUnavailable
from alertd.store import SCHEMA_VERSION, Store, connect, postgres, write_transaction
from alertd.store.postgres import translate
from alertd.store.schema import SchemaTooNew, current_version, migrate
from postgres import PgServer

# --- the schema: one on both ---------------------------------------------------------


def sqlite_shape(db: Any) -> dict[str, Any]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {}
    for table in tables:
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        # A key column is NOT NULL on PostgreSQL; SQLite lets a TEXT key hold NULL (a known quirk).
        columns = {r["name"]: bool(r["notnull"] or r["pk"]) for r in info}
        uniques = {tuple(r["name"] for r in info if r["pk"])} - {()}
        for index in db.execute(f"PRAGMA index_list({table})").fetchall():
            if index["unique"]:
                uniques.add(tuple(r["name"] for r in db.execute(f"PRAGMA index_info({index['name']})")))
        out[table] = (columns, sorted(uniques))
    return out


def pg_shape(db: Any) -> dict[str, Any]:
    tables = [
        r[0]
        for r in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
        )
    ]
    out = {}
    for table in tables:
        columns = {
            r[0]: r[1] == "NO"
            for r in db.execute(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = ?",
                [table],
            )
        }
        uniques = set()
        for (indexdef,) in db.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relname = ? AND i.indisunique",
            [table],
        ):
            inside = indexdef.split("USING btree (", 1)[1].split(")", 1)[0]
            uniques.add(tuple(part.strip().strip('"') for part in inside.split(",")))
        out[table] = (columns, sorted(uniques))
    return out


def test_both_backends_have_the_same_tables_columns_and_unique_keys(tmp_path: Path, pg_server: PgServer) -> None:
    lite = connect(tmp_path / "a.db")
    migrate(lite)
    pg = postgres.connect(pg_server.empty_database())
    assert migrate(pg) == SCHEMA_VERSION
    assert current_version(pg) == current_version(lite) == SCHEMA_VERSION
    lite_shape, pg_shape_ = sqlite_shape(lite), pg_shape(pg)
    assert sorted(pg_shape_) == sorted(lite_shape)
    for table, shape in lite_shape.items():
        assert pg_shape_[table] == shape, table
    versions = [r[0] for r in pg.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_the_comparison_sees_a_missing_column(tmp_path: Path, pg_server: PgServer) -> None:
    pg = postgres.connect(pg_server.fresh_database())
    before = pg_shape(pg)["alerts"]
    pg.execute("ALTER TABLE alerts ADD COLUMN extra BIGINT")
    assert pg_shape(pg)["alerts"] != before


def test_instances_starting_together_migrate_once(pg_server: PgServer) -> None:
    url = pg_server.empty_database()
    results: list[Any] = []

    def start() -> None:
        try:
            results.append(migrate(postgres.connect(url)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [SCHEMA_VERSION] * 3
    db = postgres.connect(url)
    assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_newer_than_the_code_is_refused(backend: str, tmp_path: Path, request: Any) -> None:
    if backend == "sqlite":
        db = connect(tmp_path / "a.db")
        migrate(db)
    else:
        db = postgres.connect(request.getfixturevalue("pg_url"))
    with write_transaction(db):
        db.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'from the future', 0)",
            [SCHEMA_VERSION + 1],
        )
    with pytest.raises(SchemaTooNew, match="newer than this alertd"):
        migrate(db)


# --- what module code sees ---------------------------------------------------------------


def test_placeholders_outside_quotes_percent_signs_and_the_user_column() -> None:
    assert translate("SELECT '?', \"a?\" FROM t WHERE a = ? AND b LIKE 'x%'") == (
        "SELECT '?', \"a?\" FROM t WHERE a = %s AND b LIKE 'x%%'"
    )
    assert translate("SELECT user FROM outbox WHERE user = ? -- user?") == (
        'SELECT "user" FROM outbox WHERE "user" = %s -- user?'
    )
    assert translate("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , %s"
    assert translate("SELECT web_sessions_user, users FROM x") == "SELECT web_sessions_user, users FROM x"


def test_rows_read_like_sqlite_rows(backend_db: Any) -> None:
    db = backend_db
    with write_transaction(db):
        db.execute(
            "INSERT INTO inbound_log (received_at, method, headers, body, body_size, outcome, status, accepted) "
            "VALUES (?, 'POST', '{}', ?, 3, 'Mapped Open', 200, ?)",
            [1.5, b"\x00\xffa", True],
        )
    row = db.execute("SELECT id, body, received_at, accepted, body_size * 2 AS twice FROM inbound_log").fetchone()
    assert (row[0], row["id"], row["ID"]) == (1, 1, 1)
    assert row["body"] == b"\x00\xffa" and isinstance(row["body"], bytes)
    assert (row["received_at"], row["accepted"], row["twice"]) == (1.5, 1, 6)
    assert dict(row) == {"id": 1, "body": b"\x00\xffa", "received_at": 1.5, "accepted": 1, "twice": 6}
    (count, total) = db.execute("SELECT COUNT(*), SUM(body_size) FROM inbound_log").fetchone()
    assert (count, total) == (1, 3) and type(total) is int
    assert db.execute("SELECT id FROM inbound_log WHERE ? IS NULL LIMIT ?", [None, 5]).fetchall()[0][0] == 1
    assert [r[0] for r in db.execute("SELECT id FROM inbound_log")] == [1]
    cursor = db.execute("UPDATE inbound_log SET reason = 'x' WHERE id = ?", [1])
    assert cursor.rowcount == 1


def test_a_failed_write_transaction_leaves_nothing(backend_db: Any) -> None:
    db = backend_db
    with pytest.raises(RuntimeError), write_transaction(db):
        db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)")
        raise RuntimeError("undo")
    assert db.execute("SELECT COUNT(*) FROM meta WHERE key = 'k'").fetchone()[0] == 0


# --- the writer on PostgreSQL --------------------------------------------------------------


def _insert(key: str) -> Any:
    return lambda db: db.execute("INSERT INTO meta (key, value, updated_at) VALUES (?, 'v', 0)", [key])


async def test_one_failing_job_does_not_undo_its_neighbours(store_backend: str, tmp_path: Path, request: Any) -> None:
    url = request.getfixturevalue("pg_url") if store_backend == "postgresql" else None
    store = Store(tmp_path / "a.db", url=url)
    store.open()
    store.start()
    try:
        await store.write(_insert("dup"))
        outcomes: dict[str, Any] = {}

        async def job(key: str) -> None:
            try:
                await store.write(_insert(key))
                outcomes[key] = "ok"
            except Exception as exc:
                outcomes[key] = type(exc).__name__

        async with trio.open_nursery() as nursery:
            for key in ("a", "dup", "b"):
                nursery.start_soon(job, key)
        assert outcomes["a"] == outcomes["b"] == "ok"
        assert outcomes["dup"] in ("IntegrityError", "UniqueViolation")
        keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta ORDER BY key")])
        assert keys == ["a", "b", "dup"]
    finally:
        await store.aclose()


async def test_a_lost_connection_fails_the_batch_then_the_writer_reconnects(pg_url: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "unused.db", url=pg_url)
    store.open()
    store.start()
    try:
        await store.write(_insert("before"))
        # The server ends the writer's session (as a restart or failover would).
        killer = postgres.connect(pg_url)
        killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid != pg_backend_pid()"
        )
        with pytest.raises(StoreUnavailable):
            await store.write(_insert("lost"))
        await store.write(_insert("after"))  # a new connection
        keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta ORDER BY key")])
        assert keys == ["after", "before"]
    finally:
        await store.aclose()


async def test_writes_while_postgresql_is_down_fail_and_resume_when_it_returns(tmp_path: Path) -> None:
    # A server of its own: stopping the session's would break the other tests of this worker.
    from postgres import find_bindir

    server = PgServer(find_bindir())
    try:
        server.start()
        server.admin("CREATE DATABASE d")
        url = server.url("d")
        store = Store(tmp_path / "unused.db", url=url, busy_timeout=2)
        store.open()
        store.start()
        try:
            await store.write(_insert("up"))
            await trio.to_thread.run_sync(server.stop)
            with pytest.raises(StoreUnavailable):
                await store.write(_insert("down"))
            with pytest.raises(StoreUnavailable):
                await store.read(lambda db: db.execute("SELECT 1").fetchone())
            await trio.to_thread.run_sync(server.start)
            await store.write(_insert("back"))
            keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta ORDER BY key")])
            assert keys == ["back", "up"]
        finally:
            await store.aclose()
    finally:
        server.cleanup()


async def test_a_batch_that_meets_a_serialization_failure_is_run_again(pg_url: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "unused.db", url=pg_url)
    store.open()
    store.start()
    runs: list[int] = []

    def job(db: Any) -> str:
        runs.append(1)
        db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)")
        if len(runs) == 1:  # the server reports a serialization failure (SQLSTATE 40001), once
            db.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$")
        return "done"

    try:
        assert await store.write(job) == "done"
        assert len(runs) == 2
        assert await store.read(lambda db: db.execute("SELECT COUNT(*) FROM meta WHERE key = 'k'").fetchone()[0]) == 1
    finally:
        await store.aclose()


def test_housekeeping_prunes_in_batches_on_both(backend_db: Any) -> None:
    from alertd import ledger, replies
    from alertd.heartbeats import prune_pings

    db = backend_db
    with write_transaction(db):
        for at in (1.0, 2.0, 3.0, 10.0):
            db.execute(
                "INSERT INTO inbound_log (received_at, method, headers, body, body_size, outcome, status) "
                "VALUES (?, 'POST', '{}', ?, 0, 'Unmapped', 200)",
                [at, b""],
            )
            db.execute(
                "INSERT INTO heartbeat_pings (heartbeat, received_at, method, body, body_size) "
                "VALUES ('b', ?, 'GET', ?, 0)",
                [at, b""],
            )
            replies.first_receipt(db, f"r{at}", at)
        assert replies.first_receipt(db, "r1.0", 11.0) is False  # a replayed provider id
    with write_transaction(db):
        assert ledger.prune(db, 5.0, batch=2) == 2
        assert ledger.prune(db, 5.0, batch=2) == 1
        assert prune_pings(db, 5.0) == 3
        assert replies.prune_receipts(db, 5.0, limit=10) == 3
    counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("inbound_log", "heartbeat_pings")]
    assert counts == [1, 1]


async def test_writers_take_turns_on_postgresql_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    """The CLI's write transaction and the daemon's batches hold one write lock in turn: a batch
    waits while a CLI write is open (never interleaving with it), and a wait past the lock
    timeout ends in StoreBusy (503 for a request, one line for the CLI)."""
    from alertd.store import StoreBusy

    store = Store(tmp_path / "unused.db", url=pg_url, busy_timeout=30)
    store.open()
    store.start()
    cli = postgres.connect(pg_url)
    watcher = postgres.connect(pg_url)

    def waiting_for_the_lock() -> bool:
        sql = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return bool(watcher.execute(sql).fetchone()[0])

    try:
        postgres.begin_write(cli.conn)  # as `alertd ack` does, beside the daemon
        cli.execute("INSERT INTO meta (key, value, updated_at) VALUES ('cli', 'v', 0)")
        done = trio.Event()

        async def daemon_write() -> None:
            await store.write(_insert("daemon"))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(daemon_write)
            with trio.fail_after(20):
                while not waiting_for_the_lock() and not done.is_set():
                    await trio.sleep(0.01)
            assert not done.is_set(), "the daemon's batch went on beside an open CLI write"
            cli.conn.execute("COMMIT")
            await done.wait()
    finally:
        await store.aclose()
    assert [r[0] for r in watcher.execute("SELECT key FROM meta ORDER BY key")] == ["cli", "daemon"]
    postgres.begin_write(cli.conn)
    impatient = postgres.connect(pg_url, connect_timeout=1)
    impatient.conn.execute("SET lock_timeout = 200")
    with pytest.raises(StoreBusy, match="busy"), impatient.transaction():
        pass
    cli.conn.execute("ROLLBACK")


def test_a_role_that_may_not_create_tables_gets_one_line(pg_server: PgServer) -> None:
    url = pg_server.empty_database()
    owner = postgres.connect(url)
    owner.execute("CREATE ROLE reader LOGIN")
    owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    limited = postgres.connect(url.replace("postgres@", "reader@", 1))
    with pytest.raises(StoreUnavailable, match=r"^cannot prepare the database postgresql://reader@.*permission denied"):
        migrate(limited)
