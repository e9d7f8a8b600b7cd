"""bench/ingest_parts: the CPU one signed SNS message costs, part by part, one message at a time.

    .venv/bin/python bench/ingest_parts.py [--messages 1500] [--runs 2]

The daemon runs in-process (tests/inprocess.py) and takes the ingest mix of bench/ingest.py;
each message goes through the steps of ``receive.receive`` one after the other on quiet threads
(no other message in flight, so no thread waits for the GIL), each timed with
``time.thread_time``: the SNS plugin's ``handle`` (JSON parse, checks, signature), the rules
(``receive.evaluate_rules``: conditions, templates, maintenance window, route, on its thread)
and the write job (``receive.record_message`` in the writer thread: statements, details of a
new alert, JSON of the row; the COMMIT apart). Printed: microseconds per message for each part
and their sum: what one core must spend per message wherever the work runs (issue 15: an
ingest worker process keeps up with ~700 messages/s only well under ~1.2 ms).
"""

from __future__ import annotations

import argparse
import functools
import json
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

from alertd import receive  # noqa: E402
from alertd.inbound import InboundMessage, InboundRequest  # noqa: E402
from inbound_fixtures import TOKEN, sns_config  # noqa: E402
from inprocess import in_process  # noqa: E402

WARM = 200
PARTS = ("handle", "rules", "write job", "commit")


def _prepare(runtime: Any, integration: Any, message: InboundMessage, now: float, cpu: dict[str, float]) -> Any:
    started = time.thread_time()
    out = receive.evaluate_rules(runtime, integration, message, "opening", now)
    cpu["rules"] = time.thread_time() - started
    return out


def _job(
    runtime: Any,
    integration: Any,
    request: InboundRequest,
    message: InboundMessage,
    now: float,
    cpu: dict[str, float],
    db: Any,
    prepared: Any,
) -> Any:
    """As receive.commit_message's job (the check of the maintenance windows' copy included)."""
    evaluation, placement = prepared
    started = time.thread_time()
    out = None
    current = getattr(receive, "placement_current", None)  # (absent before the windows' copy in memory)
    if placement is None or current is None or current(db, runtime, placement):
        out = receive.record_message(db, runtime, integration, request, message, now, evaluation, placement=placement)
    cpu["job"] = time.thread_time() - started
    return out


async def one_run(messages: int, seed: int) -> dict[str, float]:
    config = sns_config(Path(tempfile.mkdtemp(prefix="alertd-bench-parts-")))
    bodies = signed_bodies(messages + WARM, seed)
    quiet_logging()
    spent = dict.fromkeys(PARTS, 0.0)
    async with in_process(config) as app:
        runtime = app.runtime
        integration = runtime.config.integrations["alarms"]
        writer = runtime.store.writer
        for i, (body, headers) in enumerate(bodies):
            timed = i >= WARM
            now = runtime.clock.now()
            request = InboundRequest("POST", f"/in/{TOKEN}", dict(headers), body, "127.0.0.1", now)
            started = time.thread_time()
            message = await integration.inbound_type.handle(request, integration, runtime)
            handled = time.thread_time() - started
            assert isinstance(message, InboundMessage), message
            cpu: dict[str, float] = {}
            prepare = functools.partial(_prepare, runtime, integration, message, now, cpu)
            job = functools.partial(_job, runtime, integration, request, message, now, cpu)
            clock = time.pthread_getcpuclockid(writer._thread.ident)  # type: ignore[union-attr]
            before = time.clock_gettime(clock)
            recorded = await runtime.store.write_prepared(prepare, job)
            writer_cpu = time.clock_gettime(clock) - before
            assert recorded is not None
            if timed:
                spent["handle"] += handled
                spent["rules"] += cpu["rules"]
                spent["write job"] += cpu["job"]
                spent["commit"] += writer_cpu - cpu["job"]
    return {k: 1e6 * v / messages for k, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    runs = []
    for run in range(args.runs):
        r = trio.run(one_run, args.messages, int(time.time()) + run)
        total = sum(r[p] for p in PARTS if p != "commit")
        parts = ", ".join(f"{p} {r[p]:.0f}" for p in PARTS)
        print(f"run {run + 1}: us CPU/msg: {parts}; handle+rules+job {total:.0f} (commit: one per message here)")
        runs.append({**r, "sum": total})
    print("SUMMARY " + json.dumps({"bench": "ingest_parts", "runs": runs}))


if __name__ == "__main__":
    main()
