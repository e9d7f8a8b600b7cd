"""bench/inbound_loop: what one signed SNS message costs the event loop's thread beyond a GET /healthz.

    .venv/bin/python bench/inbound_loop.py [--messages 1500] [--concurrency 32] [--runs 3]

The daemon runs in-process (tests/inprocess.py, as bench/ingest_handler.py) and the same ASGI
client sends, at the same concurrency, GET /healthz (answered at the ASGI level: the client's
and the dispatcher's share), then the ingest mix of bench/ingest.py, then /healthz again.
Printed per run: the trio thread's CPU per request (``time.thread_time``) for each, their
difference (alertd's own work on the loop for a message: plugin, hand-offs, reply, the loops
woken after commits), the process's CPU per message, and, counted with a trio Instrument (not
timed, so not disturbed by other tenants), the tasks started and task steps per message.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from inprocess_mix import quiet_logging, signed_bodies  # noqa: E402

from inbound_fixtures import TOKEN, sns_config  # noqa: E402
from inprocess import in_process  # noqa: E402

WARM = 200


class Count(trio.abc.Instrument):
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.counts["steps"] += 1

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.counts["spawned"] += 1


async def one_run(messages: int, concurrency: int, seed: int) -> dict[str, Any]:
    config = sns_config(Path(tempfile.mkdtemp(prefix="alertd-bench-loop-")))
    bodies = signed_bodies(messages + WARM, seed)
    quiet_logging()
    out: dict[str, Any] = {}
    async with in_process(config) as app:

        async def post(item: tuple[bytes, dict[str, str]]) -> Any:
            return await app.post(f"/in/{TOKEN}", content=item[0], headers=item[1])

        async def get(_item: int) -> Any:
            return await app.get("/healthz")

        async def drive(items: Any, send: Any) -> None:
            it = iter(items)

            async def worker() -> None:
                for item in it:
                    response = await send(item)
                    assert response.status_code == 200, response.text

            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(worker)

        await drive(bodies[:WARM], post)
        await drive(range(WARM), get)
        for label, items, send in (
            ("healthz", range(messages), get),
            ("sns", bodies[WARM:], post),
            ("healthz_after", range(messages), get),
        ):
            count = Count()
            trio.lowlevel.add_instrument(count)
            thread0, process0 = time.thread_time(), time.process_time()
            await drive(items, send)
            thread1, process1 = time.thread_time(), time.process_time()
            trio.lowlevel.remove_instrument(count)
            out[label] = {
                "trio_us": 1e6 * (thread1 - thread0) / messages,
                "process_us": 1e6 * (process1 - process0) / messages,
                "spawned": count.counts["spawned"] / messages,
                "steps": count.counts["steps"] / messages,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run in range(args.runs):
        r = trio.run(one_run, args.messages, args.concurrency, int(time.time()) + run)
        healthz = (r["healthz"]["trio_us"] + r["healthz_after"]["trio_us"]) / 2
        sns = r["sns"]
        print(
            f"run {run + 1} c={args.concurrency}: trio thread /healthz {healthz:.0f} us/req, SNS {sns['trio_us']:.0f} "
            f"us/msg, difference {sns['trio_us'] - healthz:.0f} us; process {sns['process_us']:.0f} us/msg; "
            f"per message: {sns['spawned']:.2f} tasks started, {sns['steps']:.2f} task steps",
            flush=True,
        )


if __name__ == "__main__":
    main()
