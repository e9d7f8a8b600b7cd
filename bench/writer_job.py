"""bench/writer_job: what one inbound message's write job costs the writer thread.

    .venv/bin/python bench/writer_job.py [--messages 2000] [--concurrency 32] [--runs 2] [--quick]

The daemon runs in-process (tests/inprocess.py, as bench/ingest_handler.py) and takes the ingest
mix of bench/ingest.py. Each write job (``receive.record_message``) is timed with
``time.thread_time`` and its statements counted (calls of the writer connection's ``execute``
and ``executemany``), grouped by the outcome it recorded. Printed per run: per outcome the jobs,
statements per job and writer CPU per job; then all jobs together, the writer thread's whole CPU
per message (batches, BEGIN/COMMIT included) and the jobs per COMMIT. Then the same jobs
(their arguments kept) are replayed on one thread into a fresh database, in their order, 8 per
transaction, ``--replays`` times (the least printed): the CPU per job without the other threads (a steadier
figure on a shared machine).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from inprocess_mix import post_all, quiet_logging, signed_bodies  # noqa: E402

from alertd import receive  # noqa: E402
from inbound_fixtures import sns_config  # noqa: E402
from inprocess import in_process  # noqa: E402

WARM = 200


class Counted:
    """The writer's Database with its statements counted (a thin proxy: the job sees the same API)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.statements = 0

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self.statements += 1
        return self._db.execute(sql, parameters)

    def executemany(self, sql: str, rows: Any) -> Any:
        self.statements += 1
        return self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def one_run(messages: int, concurrency: int, seed: int, replays: int = 3) -> dict[str, Any]:
    config = sns_config(Path(tempfile.mkdtemp(prefix="alertd-bench-writer-")))
    bodies = signed_bodies(messages + WARM, seed)
    quiet_logging()
    stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0, 0.0])  # jobs, statements, cpu
    measuring = False
    original = receive.record_message
    jobs: list[tuple[tuple, dict]] = []

    def record_message(db: Any, *args: Any, **kw: Any) -> Any:
        if not measuring:
            return original(db, *args, **kw)
        jobs.append((args, kw))
        counted = Counted(db)
        started = time.thread_time()
        result = original(counted, *args, **kw)
        cpu = time.thread_time() - started
        outcome = "None (evaluate again)" if result is None else result.outcome
        row = stats[outcome]
        row[0] += 1
        row[1] += counted.statements
        row[2] += cpu
        return result

    receive.record_message = record_message
    try:
        async with in_process(config) as app:
            writer = app.runtime.store.writer
            thread = writer._thread
            assert thread is not None and isinstance(thread, threading.Thread) and thread.ident is not None
            clock = time.pthread_getcpuclockid(thread.ident)
            await post_all(app, bodies[:WARM], concurrency)
            measuring = True
            commits0, writer0, wall0 = writer.commits, time.clock_gettime(clock), time.perf_counter()
            await post_all(app, bodies[WARM:], concurrency)
            commits1, writer1, wall1 = writer.commits, time.clock_gettime(clock), time.perf_counter()
            measuring = False
    finally:
        receive.record_message = original
    return {
        "replayed_us": replay(jobs, original, replays),
        "stats": dict(stats),
        "writer_us": 1e6 * (writer1 - writer0) / messages,
        "commits": commits1 - commits0,
        "msgs_per_s": messages / (wall1 - wall0),
    }


def replay(jobs: list[tuple[tuple, dict]], record_message: Any, repeats: int = 3) -> dict[str, float]:
    """The least of ``repeats`` replays (other tenants of the machine only ever add time)."""
    results = [replay_once(jobs, record_message) for _ in range(repeats)]
    return {key: min(r[key] for r in results) for key in results[0]}


def replay_once(jobs: list[tuple[tuple, dict]], record_message: Any, per_commit: int = 8) -> dict[str, float]:
    """Run the jobs again on this thread into a fresh database: CPU per job, and per job of the COMMITs."""
    from alertd.store import Store

    store = Store(Path(tempfile.mkdtemp(prefix="alertd-bench-replay-")) / "alertd.db")
    store.open()
    backend = store.writer._backend
    job_cpu = commit_cpu = 0.0
    for i in range(0, len(jobs), per_commit):
        backend.begin()
        started = time.thread_time()
        for args, kw in jobs[i : i + per_commit]:
            record_message(backend.db, *args, **kw)
        committing = time.thread_time()
        backend.commit()
        job_cpu, commit_cpu = job_cpu + committing - started, commit_cpu + time.thread_time() - committing
    backend.close()
    return {"job_us": 1e6 * job_cpu / len(jobs), "commit_us": 1e6 * commit_cpu / len(jobs)}


def _line(outcome: str, jobs: int, statements: int, cpu: float) -> str:
    per_job = f"{statements / jobs:5.2f} statements/job  {1e6 * cpu / jobs:5.0f} us CPU/job"
    return f"  {outcome:<24} {jobs:>5} jobs  {per_job}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--replays", type=int, default=3, help="replays of the jobs on one thread (the least counts)")
    parser.add_argument("--quick", action="store_true", help="500 messages, one run")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.runs = 500, 1
    runs = []
    for run in range(args.runs):
        r = trio.run(one_run, args.messages, args.concurrency, int(time.time()) + run, args.replays)
        print(f"run {run + 1} c={args.concurrency}: {r['msgs_per_s']:.0f} msg/s")
        jobs = statements = 0
        cpu = 0.0
        for outcome, (n, s, c) in sorted(r["stats"].items()):
            jobs, statements, cpu = jobs + n, statements + s, cpu + c
            print(_line(outcome, n, s, c))
        print(_line("all", jobs, statements, cpu))
        print(
            f"  writer thread {r['writer_us']:.0f} us CPU/msg (batches, BEGIN/COMMIT included); "
            f"{jobs / max(1, r['commits']):.1f} jobs/commit"
        )
        replayed = r["replayed_us"]
        print(
            f"  replayed on one thread: {replayed['job_us']:.0f} us CPU/job, "
            f"COMMIT {replayed['commit_us']:.0f} us CPU/job (8 jobs per COMMIT; least of {args.replays})"
        )
        runs.append(
            {
                "msgs_per_s": r["msgs_per_s"],
                "statements_per_job": statements / jobs,
                "cpu_us_per_job": 1e6 * cpu / jobs,
                "writer_us_per_msg": r["writer_us"],
                "replayed_job_us": replayed["job_us"],
                "replayed_commit_us_per_job": replayed["commit_us"],
                "by_outcome": {o: {"jobs": n, "statements_per_job": s / n} for o, (n, s, _c) in r["stats"].items()},
            }
        )
    print("SUMMARY " + json.dumps({"bench": "writer_job", "concurrency": args.concurrency, "runs": runs}))


if __name__ == "__main__":
    main()
