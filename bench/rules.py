"""bench/rules: the CPU of one inbound message's rules (receive.evaluate_rules), by outcome.

    .venv/bin/python bench/rules.py [--messages 3000] [--runs 3] [--profile out.prof]

The daemon runs in-process (tests/inprocess.py) with the SNS integration of the benches (the
``cloudwatch_alarm`` ruleset) and takes the ingest mix of bench/ingest.py (new alarms, repeats
of open ones, recoveries). Each message is evaluated as the daemon does before its write job
(``evaluate_rules``: conditions, source id, the open-alert read, templates, maintenance window
and route), timed with ``time.thread_time``, then committed (not timed) so that the next
message sees the alert state it would in the daemon. Printed: microseconds of CPU per message
for each outcome (new: opens an alert, repeat: appends to an open one, close) and overall, and
apart the details a ruleset with cheap details renders in the write job for a new alert (mapping.settle;
included in "all").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402

import sns_signing  # noqa: E402
from alertd.inbound import InboundMessage, InboundRequest  # noqa: E402
from alertd.receive import commit_message, evaluate_rules  # noqa: E402
from inbound_fixtures import sns_config  # noqa: E402
from inprocess import in_process  # noqa: E402

WARM = 200


OUTCOMES = {"Mapped Open": "new", "Mapped Appended": "repeat", "Mapped Closed": "close"}


async def one_run(messages: int, seed: int, profiler: Any) -> dict[str, tuple[int, float]]:
    config = sns_config(Path(tempfile.mkdtemp(prefix="alertd-bench-rules-")))
    items = []
    for message, message_id in ingest.make_traffic(messages + WARM, seed=seed):
        envelope = sns_signing.notification(message, message_id=message_id)
        body = json.dumps(envelope).encode()
        items.append((body, InboundMessage("Notification", envelope, source_message_id=message_id)))
    spent: dict[str, list[float]] = defaultdict(list)
    async with in_process(config) as app:
        runtime = app.runtime
        integration = next(iter(runtime.config.integrations.values()))
        for i, (body, message) in enumerate(items):
            now = runtime.clock.now()
            # A fresh document each time, as a delivery's parsed body is.
            message.document = json.loads(body)
            if profiler is not None and i >= WARM:
                profiler.enable()
            started = time.thread_time()
            evaluation, _placement = evaluate_rules(runtime, integration, message, "opening", now)
            cpu = time.thread_time() - started
            # A ruleset with cheap details leaves them to the write job (mapping.settle), which
            # renders them for an alert that opens: timed apart, counted for new alerts only.
            later = 0.0
            render_later = getattr(evaluation, "render_later", None)  # (absent before it existed)
            if render_later is not None:
                started = time.thread_time()
                render_later()
                later = time.thread_time() - started
            if profiler is not None and i >= WARM:
                profiler.disable()
            request = InboundRequest("POST", "/in/bench", {}, body, "127.0.0.1", now)
            recorded = await commit_message(runtime, integration, request, message, now)
            if i >= WARM:
                outcome = OUTCOMES.get(recorded.outcome, recorded.outcome)
                spent[outcome].append(cpu)
                if outcome == "new":
                    spent["new, details in the write job"].append(later)
    out = {k: (len(v), sum(v)) for k, v in spent.items()}
    evaluated = [v for k, v in out.items() if "," not in k]
    out["all"] = (sum(n for n, _ in evaluated), sum(s for _, s in out.values()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the timed evaluations here")
    args = parser.parse_args()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    for run in range(args.runs):
        result = trio.run(one_run, args.messages, int(time.time()) + run, profiler)
        parts = ", ".join(
            f"{name} {1e6 * total / count:.0f} us (n={count})" for name, (count, total) in sorted(result.items())
        )
        print(f"run {run + 1}: evaluate_rules CPU per message: {parts}")
    if profiler is not None:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
