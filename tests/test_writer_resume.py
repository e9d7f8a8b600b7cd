"""A committed write's caller runs in the first scheduler pass after the event loop wakes
(store/writer.py ``_resume_woken``, called as the loop wakes), not a pass later through trio's
task for ``run_sync_soon`` callbacks."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from alertd.store import Store

INSERT = "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, 0)"


class PassCounter(trio.abc.Instrument):
    """Counts the scheduler's passes (once each, when it is back from its wait for I/O)."""

    def __init__(self) -> None:
        self.passes = 0

    def after_io_wait(self, timeout: float) -> None:
        self.passes += 1


def test_the_caller_of_a_commit_runs_in_the_pass_after_the_loop_wakes(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.db")
    store.open()
    late: list[int] = []

    async def main() -> None:
        store.start()
        counter = PassCounter()
        trio.lowlevel.add_instrument(counter)
        try:
            for i in range(10):
                submitted = trio.Event()
                mark: list[int] = []

                async def write(i: int = i, submitted: trio.Event = submitted, mark: list[int] = mark) -> None:
                    submitted.set()  # (the job is queued: the writer's thread works on it now)
                    await store.write(lambda db: db.execute(INSERT, [f"k{i}", "v"]))
                    late.append(counter.passes - mark[0])

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(write)
                    await submitted.wait()
                    await trio.lowlevel.checkpoint()  # the write task has queued its job and parked
                    # The loop's thread busy (without the GIL) while the writer commits: the answer is
                    # waiting when the loop next looks for I/O.
                    deadline = time.monotonic() + 10
                    while store._writer is not None and store._writer.commits <= i and time.monotonic() < deadline:
                        time.sleep(0.01)
                    time.sleep(0.02)  # (the commit's wake-up written after the count)
                    mark.append(counter.passes)
        finally:
            trio.lowlevel.remove_instrument(counter)
            await store.aclose()

    trio.run(main)
    assert late == [1] * 10, f"passes between the loop's wake-up and the caller's: {late}"
