"""Store.write_prepared: work on a worker thread, then a write job with its result, one hop.

An inbound message's rules run off the writer (they must never hold it) and off the event
loop; the worker thread that ran them queues the write job itself, so the request's task is
woken once, by the commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import trio

from alertd.store import Store, lane

# More prepares in flight at once than trio.to_thread's 40 threads (and the lane's spill-over bound).
MANY = 3 * lane.SPILL_THREADS

INSERT = "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)"


def open_store(path: Path) -> Store:
    store = Store(path)
    store.open()
    store.start()
    return store


class SlowRules:
    """Prepares that hold their thread until released, as a rule at its budget does."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.threads: list[str] = []  # where each ran

    def slow(self) -> str:
        self.threads.append(threading.current_thread().name)
        self.started.release()
        assert self.release.wait(30)
        return "slow"

    async def hold_every_lane_thread(self, nursery: trio.Nursery, store: Store, key: str) -> None:
        """Put a slow prepare on each lane thread (rows ``key0``, ``key1`` ...) and wait until all run."""
        for i in range(lane.THREADS):
            nursery.start_soon(store.write_prepared, self.slow, lambda db, v, i=i: db.execute(INSERT, [f"{key}{i}", v]))
        for _ in range(lane.THREADS):
            await trio.to_thread.run_sync(self.started.acquire)


async def test_prepared_writes_commit_with_what_a_worker_thread_prepared(tmp_path: Path) -> None:
    store = open_store(tmp_path / "p.db")
    observer = sqlite3.connect(tmp_path / "p.db")
    loop_thread = threading.current_thread().name
    threads: set[str] = set()
    seen = []

    async def one(i: int) -> None:
        def prepare() -> str:
            threads.add(threading.current_thread().name)
            return f"v{i}"

        def job(db, value: str) -> str:
            threads.add(f"job:{threading.current_thread().name}")
            db.execute(INSERT, [f"k{i}", value])
            return value

        assert await store.write_prepared(prepare, job) == f"v{i}"
        # Awaited means committed.
        seen.append(observer.execute("SELECT value FROM meta WHERE key = ?", [f"k{i}"]).fetchone())

    async with trio.open_nursery() as nursery:
        for i in range(MANY):
            nursery.start_soon(one, i)
    assert sorted(seen) == sorted((f"v{i}",) for i in range(MANY))
    assert threads & {loop_thread, "alertd-writer"} == set()  # prepared off the loop and the writer
    assert {t for t in threads if t.startswith("job:")} == {"job:alertd-writer"}
    await store.aclose()


async def test_the_caller_is_woken_once_by_the_commit(tmp_path: Path) -> None:
    store = open_store(tmp_path / "w.db")
    me = trio.lowlevel.current_task()
    woken = 0

    class Count(trio.abc.Instrument):
        def task_scheduled(self, task: trio.lowlevel.Task) -> None:
            nonlocal woken
            woken += task is me

    await store.write_prepared(lambda: "x", lambda db, v: db.execute(INSERT, ["warm", v]))
    trio.lowlevel.add_instrument(Count())
    await store.write_prepared(lambda: "y", lambda db, v: db.execute(INSERT, ["k", v]))
    assert woken == 1  # (a to_thread hop, then a write: 2)
    await store.aclose()


async def test_a_slow_prepare_does_not_hold_the_writer(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    release = threading.Event()

    def slow() -> str:
        assert release.wait(30)
        return "slow"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.write_prepared, slow, lambda db, v: db.execute(INSERT, ["slow", v]))
        for i in range(5):  # other writes commit while the rules of the first one run
            await store.write(lambda db, i=i: db.execute(INSERT, [f"k{i}", "x"]))
        release.set()
    keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta WHERE updated_at = 0")])
    assert keys[-1] == "slow" and len(keys) == 6
    await store.aclose()


async def test_a_failing_prepare_is_raised_and_nothing_is_written(tmp_path: Path) -> None:
    store = open_store(tmp_path / "f.db")

    def broken() -> str:
        raise ValueError("rules failed")

    with pytest.raises(ValueError, match="rules failed"):
        await store.write_prepared(broken, lambda db, v: db.execute(INSERT, ["never", v]))
    assert await store.read(lambda db: db.execute("SELECT COUNT(*) FROM meta WHERE key = 'never'").fetchone()[0]) == 0
    await store.aclose()


async def test_prepares_run_on_the_lane_not_a_thread_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A thread per call costs the event loop a futex wake per message, with up to 40 threads
    # contending for the GIL; the lane's few threads take one job after the other. The one path
    # however many are in flight (past 40, they once went through trio.to_thread: two hops).
    monkeypatch.setattr(lane, "STUCK_SECONDS", 60.0)  # a loaded machine's pause is not a slow rule here
    store = open_store(tmp_path / "l.db")
    threads: list[str] = []

    async def one(i: int) -> None:
        def prepare() -> int:
            threads.append(threading.current_thread().name)
            return i

        await store.write_prepared(prepare, lambda db, v: db.execute(INSERT, [f"k{v}", "x"]))

    async with trio.open_nursery() as nursery:
        for i in range(MANY):
            nursery.start_soon(one, i)
    assert len(threads) == MANY
    assert {name.rsplit("-", 1)[0] for name in threads} == {"alertd-prepare"}
    assert len(set(threads)) <= lane.THREADS
    await store.aclose()


async def test_slow_prepares_on_every_lane_thread_do_not_hold_up_the_next(tmp_path: Path) -> None:
    store = open_store(tmp_path / "b.db")
    rules = SlowRules()
    async with trio.open_nursery() as nursery:
        try:
            await rules.hold_every_lane_thread(nursery, store, "slow")
            await trio.sleep(lane.STUCK_SECONDS * 2)
            with trio.fail_after(10):
                assert await store.write_prepared(lambda: "quick", lambda db, v: db.execute(INSERT, ["quick", v]) and v)
        finally:
            rules.release.set()
    keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta WHERE updated_at = 0")])
    assert keys[0] == "quick" and len(keys) == lane.THREADS + 1
    await store.aclose()


async def test_prepares_spilled_off_a_stuck_lane_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # While every lane thread is on a slow rule, new prepares get threads of their own, at most
    # SPILL_THREADS at once; the others wait in the lane's queue (a flood of slow rules must not
    # start a thread each).
    monkeypatch.setattr(lane, "SPILL_THREADS", 3)
    store = open_store(tmp_path / "c.db")
    rules = SlowRules()
    threads = rules.threads
    async with trio.open_nursery() as nursery:
        try:
            await rules.hold_every_lane_thread(nursery, store, "lane")
            await trio.sleep(lane.STUCK_SECONDS * 2)
            for i in range(6):
                nursery.start_soon(
                    store.write_prepared, rules.slow, lambda db, v, i=i: db.execute(INSERT, [f"more{i}", v])
                )
            for _ in range(3):  # the spilled ones start at once
                await trio.to_thread.run_sync(rules.started.acquire)
        finally:
            rules.release.set()
    keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta WHERE updated_at = 0")])
    assert len(keys) == lane.THREADS + 6
    on_lane = [t for t in threads if t.startswith("alertd-prepare-")]
    assert len(threads) == lane.THREADS + 6 and len(on_lane) == lane.THREADS + 3, threads
    await store.aclose()


async def test_prepares_queued_behind_a_stuck_lane_move_to_threads_of_their_own(tmp_path: Path) -> None:
    # A prepare queued while the lane's thread had only just begun a slow rule (not yet seen
    # stuck) must not wait for that rule's end: once the lane is seen stuck, it is spilled too.
    store = open_store(tmp_path / "q.db")
    rules = SlowRules()
    async with trio.open_nursery() as nursery:
        try:
            await rules.hold_every_lane_thread(nursery, store, "slow")
            done = trio.Event()

            async def early() -> None:
                await store.write_prepared(lambda: "early", lambda db, v: db.execute(INSERT, ["early", v]))
                done.set()

            nursery.start_soon(early)  # queued: the lane is not stuck yet
            await trio.sleep(lane.STUCK_SECONDS * 2)
            with trio.fail_after(10):
                await store.write_prepared(lambda: "late", lambda db, v: db.execute(INSERT, ["late", v]))
                await done.wait()
        finally:
            rules.release.set()
    keys = await store.read(lambda db: [r[0] for r in db.execute("SELECT key FROM meta WHERE updated_at = 0")])
    assert set(keys[:2]) == {"early", "late"} and len(keys) == lane.THREADS + 2
    await store.aclose()


async def test_the_prepares_of_one_pass_of_the_loop_are_handed_over_together(tmp_path: Path) -> None:
    # A put per prepare woke the idle lane thread per message (the kernel often ran it at once,
    # while the loop's thread held the GIL). The jobs of one pass over the runnable tasks are
    # handed over when the loop next waits for I/O: none starts before the last one is submitted,
    # even when the loop's thread lets go of the GIL in between.
    store = open_store(tmp_path / "h.db")
    await store.write_prepared(lambda: "warm", lambda db, v: db.execute(INSERT, ["warm", v]))
    count = 8
    submitted = 0
    seen: list[int] = []

    async def one(i: int) -> None:
        nonlocal submitted
        time.sleep(0.002)  # (lets go of the GIL: a lane thread woken already would run now)
        submitted += 1

        def prepare() -> int:
            seen.append(submitted)
            return i

        await store.write_prepared(prepare, lambda db, v: db.execute(INSERT, [f"k{v}", "x"]))

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    assert seen == [count] * count
    await store.aclose()


def test_a_lane_used_in_a_second_trio_run_still_hands_its_jobs_over(tmp_path: Path) -> None:
    # The hand-over is a trio instrument, which belongs to the run it was added to: a lane whose
    # first jobs came from an earlier run must add one to the run its next jobs come from.
    from alertd.store.lane import Lane

    the_lane = Lane()
    done: list[int] = []

    async def one_job(value: int) -> None:
        finished = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: object) -> None:
            done.append(value)
            token.run_sync_soon(finished.set)

        the_lane.start_soon(lambda: value, deliver)
        with trio.fail_after(5):
            await finished.wait()

    trio.run(one_job, 1)
    trio.run(one_job, 2)
    assert done == [1, 2]

    async def close() -> None:
        the_lane.close()

    trio.run(close)
