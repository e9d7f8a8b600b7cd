"""bench/ingest_handler: the CPU one signed SNS message costs the daemon, without sockets.

    .venv/bin/python bench/ingest_handler.py [--messages 2000] [--concurrency 32] [--runs 3]

The daemon runs in-process (tests/inprocess.py: the ASGI app, every loop, the writer thread)
and ``--concurrency`` tasks post the ingest mix of bench/ingest.py through an ASGI client, so
no hypercorn, h11 or socket is involved: what is left is alertd's own path (plugin, rules,
write job, reply) plus the client's constant share. Printed per run: the CPU per message of the
trio thread (``time.thread_time``) and of the whole process (writer and worker threads too),
and messages per second. CPU time moves less than req/s when other tenants share the machine.
Log lines go to /dev/null at level info, formatted as on stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from inprocess_mix import post_all, quiet_logging, signed_bodies  # noqa: E402

from inbound_fixtures import sns_config  # noqa: E402
from inprocess import in_process  # noqa: E402

WARM = 200


async def one_run(messages: int, concurrency: int, seed: int) -> dict[str, float]:
    config = sns_config(Path(tempfile.mkdtemp(prefix="alertd-bench-handler-")))
    bodies = signed_bodies(messages + WARM, seed)
    quiet_logging()
    async with in_process(config) as app:
        await post_all(app, bodies[:WARM], concurrency)
        thread0, process0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
        await post_all(app, bodies[WARM:], concurrency)
        thread1, process1, wall1 = time.thread_time(), time.process_time(), time.perf_counter()
    return {
        "trio_thread_us": 1e6 * (thread1 - thread0) / messages,
        "process_us": 1e6 * (process1 - process0) / messages,
        "msgs_per_s": messages / (wall1 - wall0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run in range(args.runs):
        r = trio.run(one_run, args.messages, args.concurrency, int(time.time()) + run)
        print(
            f"run {run + 1} c={args.concurrency}: trio thread {r['trio_thread_us']:.0f} us/msg, "
            f"process {r['process_us']:.0f} us/msg, {r['msgs_per_s']:.0f} msg/s"
        )


if __name__ == "__main__":
    main()
