"""bench/ingest: signed SNS CloudWatch notifications into a daemon on loopback, at rising concurrency.

    .venv/bin/python bench/ingest.py [--levels 1,8,32] [--duration 5] [--runs 3] [--quick] [--store both]

For each run and concurrency level a fresh daemon (fresh database) takes a mix of new alarms,
repeats and recoveries from a separate load process (bench/loadgen.py) for a bounded time. Printed:
accepted requests/s, latency p50/p90/p99/max, errors, the daemon's peak RSS, and the same load
against a trivial endpoint of the same server (GET /healthz) measured in the same run, as a ratio.
Afterwards the inbound log must hold exactly every 2xx-answered message (checked, not assumed).
If Prometheus Alertmanager is installed (Debian: prometheus-alertmanager), the same concurrency is
run against its POST /api/v2/alerts and the ratio printed. Figures are medians over the runs.

``--store postgresql`` runs the SNS levels on PostgreSQL (``[store] url``: a server started
for the run from Debian's postgresql as the tests start it, tests/postgres.py, a fresh database
per level) instead of SQLite; ``--store both`` runs each level on both, back to back, and prints
PostgreSQL's req/s beside SQLite's of the same run. ``--instances N`` (with ``--store``) runs N
daemons on the one database and config file, the load spread over them (the concurrency split
between N load processes, one per daemon, each sending its own share of the messages); req/s is
their sum, p50 the median of theirs, p99 the highest; the inbound-log check covers all of them.

``--ingest-processes 0,1`` measures the SNS levels with each ``[server] ingest_processes`` value,
back to back (cpu/req is then the HTTP process's; the workers' CPU and peak RSS are printed
beside it).

The webhook level: the same mix as generic JSON webhooks (``type = "webhook"``, HMAC-SHA256
signed, a delivery id header each) to a fresh daemon at each concurrency, printed beside the SNS
figure of the same run with their ratio (webhook / SNS).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import (
    TOKEN,
    DaemonProcess,
    cpu_seconds,
    free_port,
    fsync_latency_ms,
    median,
    rss_kib,
    run_load,
    sns_config,
    summary,
)

ALARMS = 300
WEBHOOK_TOKEN = "bench-webhook-token-0123456789abcdef"
WEBHOOK_SECRET = "bench-webhook-hmac-secret-0123456789abcdef"
WEBHOOK_INTEGRATION = f"""
[integrations.hooks]
type = "webhook"
token = "{WEBHOOK_TOKEN}"
[integrations.hooks.options]
secret = "{WEBHOOK_SECRET}"
"""


def _init_worker(key_pem: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    import sns_signing

    sns_signing._KEY = load_pem_private_key(key_pem, password=None)  # type: ignore[assignment]


def _sign(args: tuple[str, str]) -> tuple[str, bytes, dict[str, str]]:
    import sns_signing

    message, message_id = args
    envelope = sns_signing.notification(message, message_id=message_id)
    return message_id, json.dumps(envelope).encode(), sns_signing.headers_for(envelope)


def make_traffic(count: int, seed: int = 1) -> list[tuple[str, str]]:
    """(Message, MessageId): ~50% new alarms, ~30% repeats of open ones, ~20% recoveries."""
    from inbound_fixtures import sample_message

    template = json.loads(sample_message("sns-cloudwatch-alarm-ALARM.json")[0])
    rng = random.Random(seed)
    open_alarms: list[int] = []
    closed = list(range(ALARMS))
    out = []
    for i in range(count):
        roll = rng.random()
        if (roll < 0.5 or not open_alarms) and closed:
            alarm = closed.pop(rng.randrange(len(closed)))
            open_alarms.append(alarm)
            state = "ALARM"
        elif roll < 0.8 and open_alarms:
            alarm, state = rng.choice(open_alarms), "ALARM"
        else:
            alarm = open_alarms.pop(rng.randrange(len(open_alarms)))
            closed.append(alarm)
            state = "OK"
        body = {
            **template,
            "AlarmName": f"Bench{alarm}",
            "NewStateValue": state,
            "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:Bench{alarm}",
        }
        out.append((json.dumps(body), f"bench-{seed}-{i}"))
    return out


def signed_pool(count: int, traffic: list[tuple[str, str]] | None = None) -> list[tuple[str, bytes, dict[str, str]]]:
    """Sign ``traffic`` (default: the ingest mix of ``count`` messages) on both cores, before timing."""
    from cryptography.hazmat.primitives import serialization

    import sns_signing

    key_pem = sns_signing._key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    started = time.monotonic()
    with multiprocessing.Pool(2, initializer=_init_worker, initargs=(key_pem,)) as pool:
        pool_out = pool.map(_sign, traffic if traffic is not None else make_traffic(count), chunksize=256)
    print(f"signed {len(pool_out)} SNS notifications in {time.monotonic() - started:.1f} s (not timed)")
    return pool_out


def webhook_pool(traffic: list[tuple[str, str]]) -> list[tuple[str, bytes, dict[str, str]]]:
    """The same traffic as generic webhook bodies, HMAC-signed, the message id as delivery id."""
    out = []
    for message, message_id in traffic:
        alarm = json.loads(message)
        body = json.dumps(
            {
                "id": alarm["AlarmArn"],
                "status": "firing" if alarm["NewStateValue"] == "ALARM" else "resolved",
                "title": f"{alarm['AlarmName']}: {alarm['NewStateReason']}",
                "description": alarm.get("AlarmDescription") or "",
                "severity": "critical",
            }
        ).encode()
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Signature-256": signature, "X-Delivery-Id": message_id}
        out.append((message_id, body, headers))
    return out


def verify_log(db: Path | str, answered: set[str]) -> dict[str, Any]:
    if isinstance(db, str):  # a PostgreSQL URL
        from alertd.store import postgres

        conn: Any = postgres.connect(db)
    else:
        conn = sqlite3.connect(db)
    accepted = {r[0] for r in conn.execute("SELECT source_message_id FROM inbound_log WHERE accepted = 1")}
    outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM inbound_log GROUP BY outcome").fetchall())
    conn.close()
    missing = answered - accepted
    extra = accepted - answered
    return {
        "answered_2xx": len(answered),
        "logged_accepted": len(accepted),
        "missing": len(missing),
        "logged_but_unanswered": len(extra),
        "outcomes": outcomes,
    }


def worker_pids(daemon: DaemonProcess, count: int) -> list[int]:
    """The pids of the ingest workers once ``count`` said hello (until then the daemon answers)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = [int(x.split("pid=", 1)[1].split()[0]) for x in daemon.lines if "event=ingest.worker_started" in x]
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise RuntimeError(f"{count} ingest workers never started")


def alertd_level(
    tmp: Path,
    pool: list,
    concurrency: int,
    duration: float,
    token: str = TOKEN,
    store_url: str | None = None,
    ingest_processes: int = 0,
) -> dict[str, Any]:
    # info: what a deployment runs with (one log line per request)
    config = sns_config(tmp, WEBHOOK_INTEGRATION, server=f"ingest_processes = {ingest_processes}")
    if store_url is not None:
        config.write_text(config.read_text().replace(f'path = "{tmp / "alertd.db"}"', f'url = "{store_url}"', 1))
    daemon = DaemonProcess(config).start()
    try:
        port = int(daemon.url.rsplit(":", 1)[1])
        pid = daemon.proc.pid  # type: ignore[union-attr]
        workers = worker_pids(daemon, ingest_processes) if ingest_processes else []
        # The daemon's CPU time per answered request: a figure the other tenants of a shared
        # machine disturb less than requests per second.
        cpu_before = cpu_seconds(pid)
        trivial = run_load(port, [("GET", "/healthz", {}, b"")] * 400_000, concurrency, duration)
        cpu_trivial = cpu_seconds(pid) - cpu_before
        requests = [("POST", f"/in/{token}", headers, body) for _mid, body, headers in pool]
        commits_before, jobs_before = writer_counts(daemon.url)
        cpu_before = cpu_seconds(pid)
        workers_before = sum(cpu_seconds(w) for w in workers)
        ingest = run_load(port, requests, concurrency, duration)
        cpu_ingest = cpu_seconds(pid) - cpu_before
        cpu_workers = sum(cpu_seconds(w) for w in workers) - workers_before
        commits_after, jobs_after = writer_counts(daemon.url)
        # Write jobs (one per message) per COMMIT, so per fsync.
        per_commit = (jobs_after - jobs_before) / max(1.0, commits_after - commits_before)
        if workers:  # /metrics shows the HTTP process's writer: the messages commit in the workers
            per_commit = float("nan")
        trivial["cpu_ms_per_request"] = 1000 * cpu_trivial / max(1, trivial["ok"])
        ingest["cpu_ms_per_request"] = 1000 * cpu_ingest / max(1, ingest["requests"])
        # With ingest workers: cpu_ms_per_request is the HTTP process's alone; this, the workers'.
        ingest["worker_cpu_ms_per_request"] = 1000 * cpu_workers / max(1, ingest["requests"])
        answered = {pool[i][0] for i in ingest["ok_indexes"]}
        time.sleep(0.2)
        peak = rss_kib(daemon.proc.pid)  # type: ignore[union-attr]
        worker_peak = max([rss_kib(w) for w in workers], default=0)
    finally:
        daemon.stop()
        daemon.kill()
    check = verify_log(store_url or tmp / "alertd.db", answered)
    for result in (trivial, ingest):
        result.pop("ok_indexes")
    return {
        "concurrency": concurrency,
        "fsync_ms": fsync_latency_ms(tmp),
        "messages_per_commit": per_commit,
        "ingest": ingest,
        "trivial": trivial,
        "peak_rss_mib": peak / 1024,
        "ingest_processes": ingest_processes,
        "worker_peak_rss_mib": worker_peak / 1024,
        "ratio_to_trivial": ingest["rps"] / trivial["rps"] if trivial["rps"] else float("nan"),
        "log": check,
    }


def cluster_level(
    tmp: Path, pool: list, concurrency: int, duration: float, instances: int, store_url: str | None = None
) -> dict[str, Any]:
    """The SNS load spread over ``instances`` daemons sharing one database (issue 14)."""
    config = sns_config(tmp, WEBHOOK_INTEGRATION)
    text = config.read_text()
    if store_url is not None:
        text = text.replace(f'path = "{tmp / "alertd.db"}"', f'url = "{store_url}"', 1)
    # One file for every instance: port 0 (each its own, read from its log).
    config.write_text(re.sub(r'listen = "127\.0\.0\.1:\d+"', 'listen = "127.0.0.1:0"', text))
    daemons = []
    try:
        for _ in range(instances):
            daemons.append(DaemonProcess(config).start())
        shares = [pool[i::instances] for i in range(instances)]
        conc = [concurrency // instances + (1 if i < concurrency % instances else 0) for i in range(instances)]
        work = [(d, share, c) for d, share, c in zip(daemons, shares, conc, strict=True) if c > 0]
        commits_before = [writer_counts(d.url) for d, _s, _c in work]

        def load(item: tuple[DaemonProcess, list, int]) -> dict[str, Any]:
            daemon, share, c = item
            requests = [("POST", f"/in/{TOKEN}", headers, body) for _mid, body, headers in share]
            return run_load(int(daemon.url.rsplit(":", 1)[1]), requests, c, duration)

        with ThreadPoolExecutor(len(work)) as pool_exec:
            results = list(pool_exec.map(load, work))
        commits_after = [writer_counts(d.url) for d, _s, _c in work]
        commits = sum(a[0] - b[0] for a, b in zip(commits_after, commits_before, strict=True))
        jobs = sum(a[1] - b[1] for a, b in zip(commits_after, commits_before, strict=True))
        answered = {share[i][0] for (_d, share, _c), r in zip(work, results, strict=True) for i in r["ok_indexes"]}
    finally:
        for daemon in daemons:
            daemon.stop()
            daemon.kill()
    check = verify_log(store_url or tmp / "alertd.db", answered)
    ingest = {
        "requests": sum(r["requests"] for r in results),
        "ok": sum(r["ok"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "rps": sum(r["rps"] for r in results),
        "p50_ms": median([r["p50_ms"] for r in results]),
        "p99_ms": max(r["p99_ms"] for r in results),
        "per_instance_rps": [round(r["rps"]) for r in results],
    }
    return {
        "concurrency": concurrency,
        "instances": instances,
        "messages_per_commit": jobs / max(1.0, commits),
        "ingest": ingest,
        "log": check,
    }


def writer_counts(url: str) -> tuple[float, float]:
    """(commits, jobs) of the daemon's writer so far, from /metrics."""
    import httpx

    values = {}
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("alertd_store_commits", "alertd_store_jobs"):
            values[name] = float(value)
    return values["alertd_store_commits"], values["alertd_store_jobs"]


ALERTMANAGER_CONFIG = """
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def alertmanager_level(tmp: Path, concurrency: int, duration: float) -> dict[str, Any] | None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None
    (tmp / "am.yml").write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        requests = []
        for i in range(400_000 // 4):
            body = json.dumps(
                [{"labels": {"alertname": f"Bench{i % ALARMS}", "instance": "x"}, "annotations": {"summary": "bench"}}]
            ).encode()
            requests.append(("POST", "/api/v2/alerts", {"Content-Type": "application/json"}, body))
        result = run_load(port, requests, concurrency, duration)
        result.pop("ok_indexes")
        return result
    finally:
        proc.terminate()
        proc.wait(10)


def print_run(run: int, c: int, result: dict[str, Any], am_result: dict[str, Any] | None) -> None:
    i = result["ingest"]
    workers = result["ingest_processes"]
    print(
        f"run {run + 1} c={c:>3} ingest_processes={workers}: {i['rps']:7.0f} req/s  p50 {i['p50_ms']:6.1f} ms  p99 "
        f"{i['p99_ms']:6.1f} ms  errors {i['errors']}  trivial {result['trivial']['rps']:7.0f} req/s  "
        f"ratio {result['ratio_to_trivial']:.2f}  rss {result['peak_rss_mib']:.0f} MiB"
        + (f" (worker {result['worker_peak_rss_mib']:.0f} MiB)" if workers else "")
        + (f"  alertmanager {am_result['rps']:7.0f} req/s" if am_result else "")
        + f"  log: missing {result['log']['missing']}"
        + f"  cpu/req {i['cpu_ms_per_request']:.2f} ms"
        + (f" + workers {i['worker_cpu_ms_per_request']:.2f} ms" if workers else "")
        + f" (trivial {result['trivial']['cpu_ms_per_request']:.2f})"
        + f"  msgs/commit {result['messages_per_commit']:.1f}  fsync {result['fsync_ms']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pool", type=int, default=16000, help="signed notifications prepared per level")
    parser.add_argument("--quick", action="store_true", help="one short run at concurrency 8")
    parser.add_argument(
        "--ingest-processes",
        default="0",
        help="[server] ingest_processes of the SNS daemon; several (e.g. 0,1): each measured per level, back to back",
    )
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--instances", type=int, default=1, help="with --store postgresql|both: daemons sharing the database"
    )
    args = parser.parse_args()
    if args.quick:
        args.levels, args.duration, args.runs, args.pool = "8", 2.0, 1, 3000
    if args.store != "sqlite" or args.instances > 1:
        pg_main(args)
        return
    levels = [int(x) for x in args.levels.split(",")]
    modes = [int(x) for x in args.ingest_processes.split(",")]
    traffic = make_traffic(args.pool)
    pool = signed_pool(args.pool, traffic)
    hooks = webhook_pool(traffic)
    per_level: dict[tuple[int, int], list[dict[str, Any]]] = {(c, m): [] for c in levels for m in modes}
    webhook: dict[int, list[dict[str, Any]]] = {c: [] for c in levels}
    am: dict[int, list[dict[str, Any]]] = {c: [] for c in levels}
    for run in range(args.runs):
        for c in levels:
            # SNS and webhook back to back, the order alternating by run: a shared machine's load
            # drifts, and neither should always get the quieter slot.
            if run % 2:
                with tempfile.TemporaryDirectory() as tmp:
                    hook = alertd_level(Path(tmp), hooks, c, args.duration, WEBHOOK_TOKEN)
            results = []
            for mode in modes if not run % 2 else modes[::-1]:
                with tempfile.TemporaryDirectory() as tmp:
                    results.append(alertd_level(Path(tmp), pool, c, args.duration, ingest_processes=mode))
            if not run % 2:
                with tempfile.TemporaryDirectory() as tmp:
                    hook = alertd_level(Path(tmp), hooks, c, args.duration, WEBHOOK_TOKEN)
            for result in results:
                per_level[c, result["ingest_processes"]].append(result)
            webhook[c].append(hook)
            with tempfile.TemporaryDirectory() as tmp:
                am_result = alertmanager_level(Path(tmp), c, args.duration)
                if am_result is not None:
                    am[c].append(am_result)
            for result in sorted(results, key=lambda r: r["ingest_processes"]):
                print_run(run, c, result, am_result)
            i = next(r for r in results if r["ingest_processes"] == modes[0])["ingest"]
            print(
                f"           webhook: {hook['ingest']['rps']:7.0f} req/s  p50 {hook['ingest']['p50_ms']:6.1f} ms  "
                f"p99 {hook['ingest']['p99_ms']:6.1f} ms  errors {hook['ingest']['errors']}  "
                f"vs SNS {hook['ingest']['rps'] / i['rps'] if i['rps'] else float('nan'):.2f}  "
                f"log: missing {hook['log']['missing']}"
            )
    rows = []
    print("\nmedians over runs")
    print(
        f"{'conc':>4} {'ip':>2} {'req/s':>8} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>8} {'errors':>6} {'trivial':>8} "
        f"{'ratio':>5} {'AM req/s':>8} {'vs AM':>6} {'RSS MiB':>7} {'cpu/req':>7} {'triv cpu':>8} {'msg/commit':>10} "
        f"{'fsync':>6} {'fsync/p50':>9} {'wrk cpu':>7} {'wrk RSS':>7}"
    )
    for c, mode in per_level:
        runs = per_level[c, mode]
        first = runs if mode == modes[0] else None  # the webhook level ran beside the first mode
        row = {
            "concurrency": c,
            "ingest_processes": mode,
            "worker_cpu_ms_per_request": median([r["ingest"]["worker_cpu_ms_per_request"] for r in runs]),
            "worker_peak_rss_mib": max(r["worker_peak_rss_mib"] for r in runs),
            "rps": median([r["ingest"]["rps"] for r in runs]),
            "p50_ms": median([r["ingest"]["p50_ms"] for r in runs]),
            "p90_ms": median([r["ingest"]["p90_ms"] for r in runs]),
            "p99_ms": median([r["ingest"]["p99_ms"] for r in runs]),
            "max_ms": median([r["ingest"]["max_ms"] for r in runs]),
            "errors": sum(r["ingest"]["errors"] for r in runs),
            "trivial_rps": median([r["trivial"]["rps"] for r in runs]),
            "ratio_to_trivial": median([r["ratio_to_trivial"] for r in runs]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "log_missing": sum(r["log"]["missing"] for r in runs),
            "log_unanswered": sum(r["log"]["logged_but_unanswered"] for r in runs),
            "pool_exhausted": any(r["ingest"]["exhausted"] for r in runs),
            "runs_rps": [round(r["ingest"]["rps"]) for r in runs],
            "runs_ratio": [round(r["ratio_to_trivial"], 2) for r in runs],
            "cpu_ms_per_request": median([r["ingest"]["cpu_ms_per_request"] for r in runs]),
            "trivial_cpu_ms_per_request": median([r["trivial"]["cpu_ms_per_request"] for r in runs]),
            "messages_per_commit": median([r["messages_per_commit"] for r in runs]),
            "fsync_ms": median([r["fsync_ms"] for r in runs]),
        }
        hooks_runs = webhook[c]
        row["webhook"] = {
            "rps": median([r["ingest"]["rps"] for r in hooks_runs]),
            "p50_ms": median([r["ingest"]["p50_ms"] for r in hooks_runs]),
            "p99_ms": median([r["ingest"]["p99_ms"] for r in hooks_runs]),
            "errors": sum(r["ingest"]["errors"] for r in hooks_runs),
            "log_missing": sum(r["log"]["missing"] for r in hooks_runs),
            "log_unanswered": sum(r["log"]["logged_but_unanswered"] for r in hooks_runs),
            "runs_rps": [round(r["ingest"]["rps"]) for r in hooks_runs],
            # Each run's webhook figure over the SNS figure of the same run.
            "ratio_to_sns": median(
                [h["ingest"]["rps"] / s["ingest"]["rps"] for h, s in zip(hooks_runs, first or runs, strict=True)]
            ),
        }
        # The share of a request's latency that is the disk's flush (at c=1 every message waits for its own).
        row["fsync_share_of_p50"] = row["fsync_ms"] / row["p50_ms"] if row["p50_ms"] else float("nan")
        if am[c]:
            row["alertmanager_rps"] = median([r["rps"] for r in am[c]])
            row["alertmanager_p99_ms"] = median([r["p99_ms"] for r in am[c]])
            row["ratio_to_alertmanager"] = row["rps"] / row["alertmanager_rps"]
        rows.append(row)
        print(
            f"{c:>4} {mode:>2} {row['rps']:8.0f} {row['p50_ms']:7.1f} {row['p90_ms']:7.1f} {row['p99_ms']:7.1f} "
            f"{row['max_ms']:8.1f} {row['errors']:>6} {row['trivial_rps']:8.0f} {row['ratio_to_trivial']:5.2f} "
            f"{row.get('alertmanager_rps', float('nan')):8.0f} {row.get('ratio_to_alertmanager', float('nan')):6.3f} "
            f"{row['peak_rss_mib']:7.0f} {row['cpu_ms_per_request']:7.2f} {row['trivial_cpu_ms_per_request']:8.2f} "
            f"{row['messages_per_commit']:10.1f} {row['fsync_ms']:6.2f} {row['fsync_share_of_p50']:9.0%} "
            f"{row['worker_cpu_ms_per_request']:7.2f} {row['worker_peak_rss_mib']:7.0f}"
        )
        if row["log_missing"] or row["webhook"]["log_missing"]:
            print("  !! messages answered 2xx are missing from the inbound log")
    print(f"\n{'conc':>4} {'webhook req/s':>13} {'p50':>7} {'p99':>7} {'errors':>6} ", end="")
    print(f"{'SNS req/s':>9} {'webhook/SNS':>11}")
    for row in rows:
        if row["ingest_processes"] != modes[0]:
            continue
        w = row["webhook"]
        print(
            f"{row['concurrency']:>4} {w['rps']:13.0f} {w['p50_ms']:7.1f} {w['p99_ms']:7.1f} {w['errors']:>6} "
            f"{row['rps']:9.0f} {w['ratio_to_sns']:11.2f}"
        )
    summary("ingest", {"levels": rows, "runs": args.runs, "duration_s": args.duration})


def pg_main(args: argparse.Namespace) -> None:
    """The SNS levels on PostgreSQL (and, with ``both``, on SQLite in the same run); with
    ``--store sqlite --instances N``, N daemons on one SQLite file."""
    from postgres import PgServer, find_bindir

    levels = [int(x) for x in args.levels.split(",")]
    pool = signed_pool(args.pool)
    stores = {"both": ["sqlite", "postgresql"], "postgresql": ["postgresql"], "sqlite": ["sqlite"]}[args.store]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {(s, c): [] for s in stores for c in levels}
    server = PgServer(find_bindir()) if "postgresql" in stores else None
    if server is not None:
        server.start()
    try:
        for run in range(args.runs):
            for c in levels:
                for store in stores if run % 2 == 0 else stores[::-1]:  # alternate who goes first
                    url = server.empty_database() if server is not None and store == "postgresql" else None
                    with tempfile.TemporaryDirectory() as tmp:
                        if args.instances > 1:
                            result = cluster_level(Path(tmp), pool, c, args.duration, args.instances, store_url=url)
                        else:
                            result = alertd_level(Path(tmp), pool, c, args.duration, store_url=url)
                    results[(store, c)].append(result)
                    i = result["ingest"]
                    print(
                        f"run {run + 1} c={c:>3} {store:>10}: {i['rps']:7.0f} req/s  p50 {i['p50_ms']:6.1f} ms  "
                        f"p99 {i['p99_ms']:6.1f} ms  errors {i['errors']}  msgs/commit "
                        f"{result['messages_per_commit']:.1f}  log: missing {result['log']['missing']} "
                        f"unanswered {result['log']['logged_but_unanswered']}"
                    )
    finally:
        if server is not None:
            server.cleanup()
    print(f"\nmedians over runs (req/s; p50 / p99 ms), {args.instances} instance(s)")
    print(f"{'conc':>4} " + " ".join(f"{s:>26}" for s in stores) + ("  pg/sqlite" if len(stores) == 2 else ""))
    rows = []
    for c in levels:
        row: dict[str, Any] = {"concurrency": c}
        cells = []
        for s in stores:
            runs = results[(s, c)]
            row[s] = {
                "rps": median([r["ingest"]["rps"] for r in runs]),
                "p50_ms": median([r["ingest"]["p50_ms"] for r in runs]),
                "p99_ms": median([r["ingest"]["p99_ms"] for r in runs]),
                "errors": sum(r["ingest"]["errors"] for r in runs),
                "log_missing": sum(r["log"]["missing"] for r in runs),
                "runs_rps": [round(r["ingest"]["rps"]) for r in runs],
            }
            cells.append(f"{row[s]['rps']:8.0f} ({row[s]['p50_ms']:5.1f} / {row[s]['p99_ms']:6.1f})")
        ratio = ""
        if len(stores) == 2 and row["sqlite"]["rps"]:
            row["pg_over_sqlite"] = row["postgresql"]["rps"] / row["sqlite"]["rps"]
            ratio = f"  {row['pg_over_sqlite']:9.2f}"
        rows.append(row)
        print(f"{c:>4} " + " ".join(f"{cell:>26}" for cell in cells) + ratio)
        if any(row[s]["log_missing"] for s in stores):
            print("  !! messages answered 2xx are missing from the inbound log")
    summary(
        "ingest_store",
        {"levels": rows, "runs": args.runs, "duration_s": args.duration, "stores": stores, "instances": args.instances},
    )


if __name__ == "__main__":
    main()
