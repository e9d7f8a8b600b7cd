"""The store: migrations, the grouped-commit writer, readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from alertd.store import SCHEMA_VERSION, Store, StoreUnavailable, connect
from alertd.store.schema import MIGRATIONS, SchemaTooNew, current_version, migrate


def test_migrate_empty_database(tmp_path: Path) -> None:
    db = connect(tmp_path / "a.db")
    assert current_version(db) == 0
    assert migrate(db) == SCHEMA_VERSION
    assert db["meta"].exists()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    # idempotent
    assert migrate(db) == SCHEMA_VERSION


def test_migrate_old_database_keeps_data(tmp_path: Path) -> None:
    db = connect(tmp_path / "old.db")
    migrate(db, target=1)
    db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)")
    db.conn.commit()
    db.conn.close()
    db = connect(tmp_path / "old.db")
    assert current_version(db) == 1
    assert migrate(db) == SCHEMA_VERSION
    assert db.execute("SELECT value FROM meta WHERE key='k'").fetchone()[0] == "v"


def test_database_from_the_future_is_refused(tmp_path: Path) -> None:
    db = connect(tmp_path / "new.db")
    migrate(db)
    db.execute("INSERT INTO schema_version VALUES (?, 'future', 0)", [SCHEMA_VERSION + 1])
    db.conn.commit()
    with pytest.raises(SchemaTooNew, match="newer than this alertd"):
        migrate(db)


async def test_writer_under_concurrency(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.db")
    store.open()
    store.start()
    observer = sqlite3.connect(tmp_path / "w.db")
    seen_after_commit = []

    async def writer(i: int) -> None:
        def job(db):
            db.execute("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)", [f"k{i}", str(i)])
            return i

        assert await store.write(job) == i
        # Awaited means committed: another connection sees the row now.
        row = observer.execute("SELECT value FROM meta WHERE key=?", [f"k{i}"]).fetchone()
        seen_after_commit.append(row is not None)

    async with trio.open_nursery() as nursery:
        for i in range(500):
            nursery.start_soon(writer, i)
    assert all(seen_after_commit) and len(seen_after_commit) == 500
    count = await store.read(lambda db: db.execute("SELECT COUNT(*) FROM meta").fetchone()[0])
    assert count == 500
    # Grouped: far fewer commits than jobs.
    assert store.writer.commits < 500
    await store.aclose()


async def test_failing_job_does_not_undo_its_neighbours(tmp_path: Path) -> None:
    store = Store(tmp_path / "f.db")
    store.open()
    store.start()
    results: dict[str, object] = {}

    async def good(name: str) -> None:
        await store.write(lambda db: db.execute("INSERT INTO meta (key, value, updated_at) VALUES (?, 'x', 0)", [name]))
        results[name] = "ok"

    async def bad() -> None:
        def job(db):
            db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('bad', 'x', 0)")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await store.write(job)
        results["bad"] = "raised"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(good, "a")
        nursery.start_soon(bad)
        nursery.start_soon(good, "b")
    keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta ORDER BY key")])
    assert keys == ["a", "b"]
    assert results == {"a": "ok", "b": "ok", "bad": "raised"}
    await store.aclose()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    store.open()
    store.start()
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await store.write(lambda db: None)


async def test_read_only_database_reports_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = Store(path)
    store.open()
    store.start()
    # Make the writer's connection read-only underneath it.
    store.writer._db.execute("PRAGMA query_only=ON")
    with pytest.raises(StoreUnavailable, match="database write failed"):
        await store.write(lambda db: db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)"))
    store.writer._db.execute("PRAGMA query_only=OFF")
    await store.write(lambda db: db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)"))
    await store.aclose()


def test_a_reader_opened_after_a_lost_directory_fails_instead_of_making_an_empty_database(tmp_path: Path) -> None:
    """The daemon made the file at open(); a reader thread that connects later (a worker thread new
    to the store) while the directory is gone (a lost mount) gets an error, and no new empty
    database appears where the real one was (it would answer reads with nothing)."""
    import threading

    data = tmp_path / "odd?#dir"  # a '?' or '#' in the path is part of the name, not of the URI
    store = Store(data / "alertd.db")
    store.open()
    data.rename(tmp_path / "moved")
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            store.reader().execute("SELECT COUNT(*) FROM alerts").fetchone()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert isinstance(outcome[0], sqlite3.OperationalError), outcome
    assert not data.exists()
    (tmp_path / "moved").rename(data)
    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert outcome[1] is None
    trio.run(store.aclose)


def test_reader_connections_of_ended_threads_are_reused(tmp_path: Path) -> None:
    """trio's worker threads end after a while idle and new ones start under the next burst: each new
    thread takes over the connection of one that ended, so open files stay bounded by the threads
    reading at once (before: a connection per thread there ever was, never closed until shutdown)."""
    import os
    import threading

    store = Store(tmp_path / "alertd.db")
    store.open()

    def open_files() -> int:
        return sum(
            1 for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == str(store.path)
        )

    def read() -> None:
        assert store.reader().execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0

    before = open_files()
    for _ in range(20):  # one after another: each thread has ended when the next one reads
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert open_files() == before + 1
    trio.run(store.aclose)


LAZY_PROBE = """
import sys, trio
from alertd.store import Store

async def main():
    store = Store(sys.argv[1])
    store.open()  # a fresh database: every migration runs
    store.start()
    await store.write(lambda db: db.execute("INSERT INTO meta (key, value, updated_at) VALUES ('k', 'v', 0)"))
    before = "sqlite_utils" in sys.modules
    # Anything beyond execute and conn is sqlite-utils' Database, built on first use.
    await store.write(lambda db: db["meta"].insert({"key": "k2", "value": "v2", "updated_at": 0}))
    query = "SELECT key, value FROM meta WHERE key LIKE 'k%'"
    rows = await store.read(lambda db: [(r["key"], r["value"]) for r in db.query(query)])
    pragma = "PRAGMA recursive_triggers"
    triggers = [await store.write(lambda db: db.execute(pragma).fetchone()[0]),
                await store.read(lambda db: db.execute(pragma).fetchone()[0])]
    dialects = [await store.write(lambda db: db.dialect), await store.read(lambda db: db.dialect)]
    await store.aclose()
    print(before, "sqlite_utils" in sys.modules, sorted(rows), triggers, dialects)

trio.run(main)
"""


def test_the_daemons_store_opens_without_sqlite_utils_and_loads_it_on_first_use(tmp_path: Path) -> None:
    """Start-up (migrations, tokens) needs only ``execute``: sqlite-utils, a tenth of the time to
    ready, loads when something first uses more of it, with the pragmas its Database sets."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE, str(tmp_path / "lazy.db")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False True [('k', 'v'), ('k2', 'v2')] [1, 1] ['sqlite', 'sqlite']"
