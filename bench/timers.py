"""Escalation and workflow timers: how late steps and workflow time triggers fire with many alerts
on short delays, and across a SIGKILL.

    .venv/bin/python bench/timers.py [--alerts 300] [--runs 3] [--delay-minutes 0.05] [--quick]

Each run starts a fresh daemon (real subprocess, temp dir) with an aws_sns integration whose
escalation policy has 3 levels a few seconds apart, each paging one user by email through the
tests' recorder channel (tests/plugins_dir/recorder.py).

Phase 1 (steady): open N alerts as fast as possible (signed SNS CloudWatch ALARMs, distinct
AlarmArn each) and wait until every step has fired. The lateness of a step is the ``at`` of its
``escalated`` event minus its due time: the alert's ``created_at`` for the first step, else the
previous step's ``at`` plus that level's delay (exactly how the engine plans it).

Phase 2 (restart): open another N alerts, SIGKILL the daemon shortly after, keep it down for a
few seconds so that steps fall due meanwhile, start it again and wait for everything. Steps due
before the daemon was serving again are measured from the ``http.listening`` log line (negative:
fired before the HTTP server was up); the others by their lateness. Every (alert, pass, level)
must have exactly one ``escalated`` event and every alert must reach its last level.

Heartbeats (phase 1): ``--heartbeats`` heartbeats (interval 3 s, no grace) are
pinged once right after the alerts open, then never again; each opens its alert when its
deadline passes. Heartbeat lateness is that alert's ``created_at`` minus the deadline (the last
ping's time plus the interval), measured beside the escalation steps of the same phase.
Workflow timers (issue 11) share the escalation loop: the config also has a workflow "not
acknowledged N after opening" (N = 1.5 level delays) that notifies the first user. Its lateness
is the ``at`` of its ``workflow_action`` event minus the alert's ``created_at`` plus N, reported
as ``workflow_timer_*`` (phase 1) and ``workflow_after_restart_*`` (phase 2, timers due after the
daemon listened again; those due while it was down are in ``workflow_overdue_after_ready_*``).
Every alert must have exactly one workflow run.
Handoff timers (schedule workflows, ``engine/handoffs.py``): ``--handoff-schedules`` schedules
each hand over between two users every ``HANDOFF_SECONDS`` from a few seconds after the config is
written, with a ``shift_start`` and a ``shift_end`` workflow each. A handoff's lateness is its
``workflow_runs.at`` minus the handoff's time (in its ``trigger_key``), for handoffs due after
the daemon listened and fired before the SIGKILL; reported as ``handoff_timer_*``.

Several instances (``--instances N``, issue 14): N daemons on the one database and config file
(port 0 each, ``[cluster] lease_seconds = 5``), alerts spread over them round robin, heartbeats
pinged through the first, which is the one SIGKILLed in phase 2 while the others stay up. Then the
phase-2 figures measured from the restart say little (the others fired those steps on time);
``after_kill_lateness_*`` is the lateness of every phase-2 step due after the kill, whoever fired it.

Figures are the median over ``--runs``; the SUMMARY line also lists the per-run values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from common import (
    ROOT,
    TOKEN,
    DaemonProcess,
    log_time,
    median_figures,
    ms_stats,
    per_run_lists,
    prepend_top_level,
    print_figures,
    set_integration_policy,
    signed_alarm,
    sns_config,
    summary,
)

LEVELS = 3
# [cluster] lease_seconds with --instances > 1: the dispatcher (workflow timers are armed by it)
# of a killed instance is taken over within this.
CLUSTER_LEASE_SECONDS = 5
HEARTBEAT_MINUTES = 0.05  # 3 s, the shortest interval a heartbeat may have
HANDOFF_SECONDS = 2  # overrides are written to the second
HANDOFFS_PER_SCHEDULE = 8
HANDOFF_LEAD_SECONDS = 6  # the first handoff: this long after the config is written (daemon start)


# --- set-up --------------------------------------------------------------------------------


def heartbeat_token(i: int) -> str:
    return f"bench-heartbeat-token-{i:06d}"


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def handoff_schedules(n: int, t0: float) -> str:
    """``n`` schedules handing over u0 -> u1 -> u0 ... every HANDOFF_SECONDS from ``t0`` (nobody
    before or after: the layer starts in 2099), each with a shift_start and a shift_end workflow."""
    out = []
    for i in range(n):
        name = f"hs{i}"
        out.append(f'\n[schedules.{name}]\n[[schedules.{name}.layers]]\nusers = ["u2"]\nstart = 2099-01-05\n')
        for k in range(HANDOFFS_PER_SCHEDULE):
            start = t0 + k * HANDOFF_SECONDS
            out.append(
                f'[[schedules.{name}.overrides]]\nuser = "u{k % 2}"\n'
                f"start = {iso(start)}\nend = {iso(start + HANDOFF_SECONDS)}\n"
            )
        for trigger, who in (("shift_start", "incoming"), ("shift_end", "outgoing")):
            wf = f"bench-handoff-{name}-{trigger}"
            out.append(
                f'\n[workflows.{wf}]\ntrigger = "{trigger}"\nschedule = "{name}"\n'
                f'[[workflows.{wf}.actions]]\naction = "notify"\non_call = ["{who}"]\n'
            )
    return "".join(out)


def write_bench_config(
    tmp: Path, delay_minutes: float, repeat: int, heartbeats: int = 0, schedules: int = 0, instances: int = 1
) -> tuple[Path, Path]:
    """An aws_sns integration escalating through LEVELS users, each one level, by email (recorder)."""
    sent = tmp / "sent.jsonl"
    users = "".join(f'[users.u{i}]\ncontact = {{ email = "u{i}@example.com" }}\n' for i in range(LEVELS))
    levels = "".join(
        f'[[escalation_policies.bench.levels]]\nusers = ["u{i}"]\ndelay_minutes = {delay_minutes}\n'
        for i in range(LEVELS)
    )
    workflow = (
        '\n[workflows.bench-unacked]\ntrigger = "not_acknowledged"\n'
        f"after_minutes = {workflow_minutes(delay_minutes)}\n"
        '[[workflows.bench-unacked.actions]]\naction = "notify"\nusers = ["u0"]\nmessage = "#{{ alert.id }} unacked"\n'
    )
    extra = (
        f"\n[channels.recorder]\npath = {json.dumps(str(sent))}\n\n{users}\n"
        f"[escalation_policies.bench]\nrepeat = {repeat}\n{levels}{workflow}"
    )
    extra += "".join(
        f"\n[heartbeats.hb{i}]\ninterval_minutes = {HEARTBEAT_MINUTES}\ngrace_minutes = 0\n"
        f'escalation_policy = "bench"\ntoken = "{heartbeat_token(i)}"\n'
        for i in range(heartbeats)
    )
    extra += handoff_schedules(schedules, float(int(time.time()) + HANDOFF_LEAD_SECONDS))
    config = sns_config(tmp, extra)
    set_integration_policy(config, "bench")
    prepend_top_level(config, f"plugins_dir = {json.dumps(str(ROOT / 'tests' / 'plugins_dir'))}")
    if instances > 1:
        # One file for every instance: port 0 (each its own, read from its log), a short lease.
        text = re.sub(r'listen = "127\.0\.0\.1:\d+"', 'listen = "127.0.0.1:0"', config.read_text())
        config.write_text(text + f"\n[cluster]\nlease_seconds = {CLUSTER_LEASE_SECONDS}\n")
    return config, sent


def workflow_minutes(delay_minutes: float) -> float:
    """The workflow's after_minutes: between two escalation steps, so both kinds of timer interleave."""
    return round(delay_minutes * 1.5, 4)


def workflow_lateness(db_path: Path, tag: str, delay_minutes: float) -> dict[str, Any]:
    """(alert, at, due) of each workflow run of the tag's alerts, and how many alerts ran it twice or never."""
    after = workflow_minutes(delay_minutes) * 60
    created = dict(query(db_path, "SELECT id, created_at FROM alerts WHERE source_id LIKE ?", (like(tag),)))
    rows = query(
        db_path,
        "SELECT e.alert_id, e.at FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.kind = 'workflow_action' AND a.source_id LIKE ? ORDER BY e.id",
        (like(tag),),
    )
    counts = Counter(alert_id for alert_id, _at in rows)
    fired = [(alert_id, at, created[alert_id] + after) for alert_id, at in rows if alert_id in created]
    return {
        "fired": fired,
        "twice": sum(1 for c in counts.values() if c > 1),
        "never": sum(1 for a in created if a not in counts),
    }


def handoff_lateness(db_path: Path, ready: float, killed: float) -> list[float]:
    """Each handoff run's lateness (run minus handoff time), of handoffs due once the daemon was
    listening and run before the SIGKILL (those due while it was down fire once, at the restart)."""
    rows = query(db_path, "SELECT trigger_key, at FROM workflow_runs WHERE workflow LIKE 'bench-handoff-%'")
    late = []
    for key, at in rows:
        due = float(key.removeprefix("shift:"))
        if due >= ready and at < killed:
            late.append(at - due)
    return late


def wait_workflows(db_path: Path, tag: str, n: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = query(
            db_path,
            "SELECT COUNT(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE e.kind = 'workflow_action' AND a.source_id LIKE ?",
            (like(tag),),
        )[0][0]
        if done >= n:
            return True
        time.sleep(0.25)
    return False


def start_daemon(daemon: DaemonProcess) -> dict[str, float]:
    """Start; return the spawn time and the time of the ``http.listening`` line (Unix times)."""
    spawned = time.time()
    daemon.start(timeout=120)
    line = next(x for x in daemon.lines if "event=http.listening" in x)
    listening = log_time(line) or time.time()
    return {"spawned": spawned, "listening": listening}


# --- opening alerts ------------------------------------------------------------------------


async def _post_all(urls: list[str], requests: list[tuple[dict[str, str], bytes]], concurrency: int) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def one(url: str, headers: dict[str, str], body: bytes) -> int:
            async with limit:
                try:
                    return (await client.post(url, content=body, headers=headers)).status_code
                except httpx.HTTPError:
                    return 0

        # Spread over the instances, round robin.
        return await asyncio.gather(*(one(urls[i % len(urls)], h, b) for i, (h, b) in enumerate(requests)))


def open_alerts(daemons: list[DaemonProcess], tag: str, n: int, concurrency: int) -> dict[str, Any]:
    requests = [signed_alarm(f"{tag}-{i:05d}") for i in range(n)]  # signed before the clock starts
    started = time.time()
    statuses = asyncio.run(_post_all([f"{d.url}/in/{TOKEN}" for d in daemons], requests, concurrency))
    finished = time.time()
    bad = Counter(s for s in statuses if s != 200)
    if bad:
        print(f"  warning: {sum(bad.values())} of {n} deliveries were not answered 200: {dict(bad)}", file=sys.stderr)
    return {"started": started, "finished": finished, "failed": sum(bad.values())}


def ping_heartbeats(daemon: DaemonProcess, n: int, concurrency: int) -> int:
    """Ping every heartbeat once; return how many pings were not answered 200."""

    async def run() -> list[int]:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=60) as client:

            async def one(i: int) -> int:
                async with limit:
                    try:
                        return (await client.get(f"{daemon.url}/hb/{heartbeat_token(i)}")).status_code
                    except httpx.HTTPError:
                        return 0

            return await asyncio.gather(*(one(i) for i in range(n)))

    return sum(1 for status in asyncio.run(run()) if status != 200)


def heartbeat_lateness(db_path: Path, n: int, interval_s: float, timeout: float) -> list[float]:
    """Wait for every heartbeat's alert; each one's lateness: opened minus last ping plus interval."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(
            db_path,
            "SELECT h.last_ping_at, a.created_at FROM heartbeats h JOIN alerts a ON a.id = h.alert_id "
            "WHERE h.state = 'missed'",
        )
        if len(rows) >= n:
            return [created - (last + interval_s) for last, created in rows]
        time.sleep(0.25)
    print("  warning: not every heartbeat was missed in time", file=sys.stderr)
    return []


# --- reading the outcome -------------------------------------------------------------------


def query(db_path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of ``sql`` on the SQLite file ``db_path``, or on the PostgreSQL database at that URL."""
    if isinstance(db_path, str):
        from alertd.store import postgres

        db = postgres.connect(db_path)
        try:
            return [tuple(r) for r in db.execute(sql, list(params)).fetchall()]
        finally:
            db.close()
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def like(tag: str) -> str:
    return f"%:alarm:{tag}-%"


def wait_all_fired(db_path: Path, tag: str, n: int, steps: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fired = query(
            db_path,
            "SELECT COUNT(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE e.kind = 'escalated' AND a.source_id LIKE ?",
            (like(tag),),
        )[0][0]
        active = query(
            db_path,
            "SELECT COUNT(*) FROM escalations s JOIN alerts a ON a.id = s.alert_id "
            "WHERE s.state = 'active' AND a.source_id LIKE ?",
            (like(tag),),
        )[0][0]
        if fired >= n * steps and active == 0:
            return True
        time.sleep(0.25)
    return False


def wait_outbox_drained(db_path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(db_path, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0] == 0:
            return True
        time.sleep(0.25)
    return False


def steps_of(db_path: Path, tag: str, delays_s: list[float], repeat: int) -> dict[str, Any]:
    """Every fired step of the tag's alerts with its due time, plus duplicate and completeness checks."""
    created = dict(query(db_path, "SELECT id, created_at FROM alerts WHERE source_id LIKE ?", (like(tag),)))
    rows = query(
        db_path,
        "SELECT e.alert_id, e.at, e.detail FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
        "WHERE e.kind = 'escalated' AND a.source_id LIKE ? ORDER BY e.id",
        (like(tag),),
    )
    fired: dict[int, dict[tuple[int, int], list[float]]] = defaultdict(lambda: defaultdict(list))
    for alert_id, at, detail in rows:
        d = json.loads(detail)
        fired[alert_id][(d["pass_number"], d["level"])].append(at)
    last = (repeat, LEVELS - 1)
    states = dict(
        query(
            db_path,
            "SELECT alert_id, state FROM escalations WHERE alert_id IN (SELECT id FROM alerts WHERE source_id LIKE ?)",
            (like(tag),),
        )
    )
    steps = []  # (alert_id, pass, level, at, due)
    duplicates = lost = 0
    for alert_id, created_at in created.items():
        by_pos = fired.get(alert_id, {})
        duplicates += sum(len(ats) - 1 for ats in by_pos.values())
        if last not in by_pos or states.get(alert_id) != "finished":
            lost += 1
        previous: tuple[int, float] | None = None  # (level, at) of the step before
        for pos in sorted(by_pos, key=lambda p: p[0] * LEVELS + p[1]):
            at = min(by_pos[pos])
            due = created_at if previous is None else previous[1] + delays_s[previous[0]]
            steps.append((alert_id, pos[0], pos[1], at, due))
            previous = (pos[1], at)
    return {"alerts": len(created), "steps": steps, "duplicates": duplicates, "lost": lost}


def sent_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- one run -------------------------------------------------------------------------------


def one_run(args: argparse.Namespace, run: int, pg: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run; with ``pg`` (a tests/postgres.py PgServer), on a fresh database of that server."""
    delays_s = [args.delay_minutes * 60] * LEVELS
    steps_per_alert = LEVELS * (args.repeat + 1)
    # Everything of a phase fires within (steps - 1) delays; leave a generous margin for a noisy box.
    settle = (steps_per_alert - 1) * delays_s[0] + 60
    figures: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="alertd-bench-timers-") as tmp_name:
        tmp = Path(tmp_name)
        config, sent = write_bench_config(
            tmp, args.delay_minutes, args.repeat, args.heartbeats, args.handoff_schedules, args.instances
        )
        db_path: Path | str = tmp / "alertd.db"
        if pg is not None:
            db_path = pg.empty_database()
            text = config.read_text()
            config.write_text(text.replace(f'path = "{tmp / "alertd.db"}"', f'url = "{db_path}"', 1))
        daemon = DaemonProcess(config)  # the one killed in phase 2
        others = [DaemonProcess(config) for _ in range(args.instances - 1)]  # they stay up
        try:
            first_ready = start_daemon(daemon)["listening"]
            for other in others:
                start_daemon(other)

            # Phase 1: steady state.
            tag1 = f"bench-r{run}-steady"
            opened = open_alerts([daemon, *others], tag1, args.alerts, args.concurrency)
            pinged = ping_heartbeats(daemon, args.heartbeats, args.concurrency)
            figures["open_s"] = round(opened["finished"] - opened["started"], 3)
            figures["open_per_s"] = round(args.alerts / max(1e-9, opened["finished"] - opened["started"]), 1)
            if not wait_all_fired(db_path, tag1, args.alerts, steps_per_alert, settle):
                print("  warning: phase 1 did not finish in time", file=sys.stderr)
            phase1 = steps_of(db_path, tag1, delays_s, args.repeat)
            figures.update(ms_stats("lateness", [at - due for _a, _p, _lv, at, due in phase1["steps"]]))
            figures.update(
                ms_stats("first_step", [at - due for _a, p, lv, at, due in phase1["steps"] if (p, lv) == (0, 0)])
            )
            figures.update(
                ms_stats("timer_step", [at - due for _a, p, lv, at, due in phase1["steps"] if (p, lv) != (0, 0)])
            )
            if args.heartbeats:
                late = heartbeat_lateness(db_path, args.heartbeats, HEARTBEAT_MINUTES * 60, settle)
                figures.update(ms_stats("heartbeat", late))
                checks["heartbeats_missed"] = len(late)
                checks["heartbeat_pings_failed"] = pinged
            if not wait_workflows(db_path, tag1, args.alerts, settle):
                print("  warning: phase 1 workflows did not finish in time", file=sys.stderr)
            wf1 = workflow_lateness(db_path, tag1, args.delay_minutes)
            figures.update(ms_stats("workflow_timer", [at - due for _a, at, due in wf1["fired"]]))
            if args.handoff_schedules:
                # Every handoff has fallen due before the kill (phase 1 outlasts them, else wait).
                last = first_ready + HANDOFF_LEAD_SECONDS + HANDOFFS_PER_SCHEDULE * HANDOFF_SECONDS + 1
                time.sleep(max(0.0, last - time.time()))

            # Phase 2: SIGKILL while steps are pending, down for a while, restart.
            tag2 = f"bench-r{run}-restart"
            opened = open_alerts([daemon, *others], tag2, args.alerts, args.concurrency)
            time.sleep(max(0.0, opened["finished"] + args.kill_after - time.time()))
            daemon.kill()
            killed = time.time()
            if args.handoff_schedules:
                figures.update(ms_stats("handoff_timer", handoff_lateness(db_path, first_ready, killed)))
                # Each handoff ran exactly once (one row per (workflow, handoff) by its key).
                checks["handoff_runs"] = query(
                    db_path, "SELECT COUNT(*) FROM workflow_runs WHERE workflow LIKE 'bench-handoff-%'"
                )[0][0]
                checks["handoff_runs_expected"] = 2 * args.handoff_schedules * HANDOFFS_PER_SCHEDULE
            pending = query(
                db_path,
                "SELECT COUNT(*) FROM escalations s JOIN alerts a ON a.id = s.alert_id "
                "WHERE s.state = 'active' AND a.source_id LIKE ?",
                (like(tag2),),
            )[0][0]
            time.sleep(args.down)
            started = start_daemon(daemon)
            ready = started["listening"]
            if not wait_all_fired(db_path, tag2, args.alerts, steps_per_alert, settle):
                print("  warning: phase 2 did not finish in time", file=sys.stderr)
            phase2 = steps_of(db_path, tag2, delays_s, args.repeat)
            if not wait_workflows(db_path, tag2, args.alerts, settle):
                print("  warning: phase 2 workflows did not finish in time", file=sys.stderr)
            wf2 = workflow_lateness(db_path, tag2, args.delay_minutes)
            figures.update(
                ms_stats("workflow_overdue_after_ready", [at - ready for _a, at, due in wf2["fired"] if due < ready])
            )
            figures.update(
                ms_stats("workflow_after_restart", [at - due for _a, at, due in wf2["fired"] if due >= ready])
            )
            before_kill = [s for s in phase2["steps"] if s[3] < killed]
            rest = [s for s in phase2["steps"] if s[3] >= killed]
            overdue = [s for s in rest if s[4] < ready]
            after = [s for s in rest if s[4] >= ready]
            figures["restart_listening_s"] = round(ready - started["spawned"], 3)
            figures["pending_alerts_at_kill"] = pending
            figures["steps_fired_before_kill"] = len(before_kill)
            figures["overdue_due_before_kill_n"] = sum(1 for s in overdue if s[4] < killed)
            figures.update(ms_stats("overdue_after_ready", [at - ready for _a, _p, _lv, at, _d in overdue]))
            figures["overdue_after_ready_min_ms"] = (
                round(min(at - ready for _a, _p, _lv, at, _d in overdue) * 1000, 2) if overdue else None
            )
            spawned = started["spawned"]
            figures.update(ms_stats("overdue_after_spawn", [at - spawned for _a, _p, _lv, at, _d in overdue]))
            figures.update(ms_stats("after_restart_lateness", [at - due for _a, _p, _lv, at, due in after]))
            # With --instances > 1 the others fire what falls due while the killed one is down.
            late = [at - due for _a, _p, _lv, at, due in rest if due >= killed]
            figures.update(ms_stats("after_kill_lateness", late))

            drained = wait_outbox_drained(db_path, 30 + args.alerts / 20)
            for running in (daemon, *others):
                running.stop()
        finally:
            for running in (daemon, *others):
                running.kill()

        sends = sent_lines(sent)
        keys = Counter(s["key"] for s in sends)
        checks.update(
            {
                "alerts_opened": phase1["alerts"] + phase2["alerts"],
                "steps_fired": len(phase1["steps"]) + len(phase2["steps"]),
                "steps_expected": 2 * args.alerts * steps_per_alert,
                "duplicate_steps": phase1["duplicates"] + phase2["duplicates"],
                "lost_alerts": phase1["lost"] + phase2["lost"],
                "notifications_sent": len(sends),
                "notifications_resent": sum(c - 1 for c in keys.values()),
                "outbox_drained": drained,
                "workflow_runs_twice": wf1["twice"] + wf2["twice"],
                "workflow_runs_missing": wf1["never"] + wf2["never"],
            }
        )
    return figures, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=300, help="alerts opened per phase (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are medians (default 3)")
    parser.add_argument("--delay-minutes", type=float, default=0.05, help="delay of each level (default 0.05 = 3 s)")
    parser.add_argument("--repeat", type=int, default=0, help="policy repeats (default 0)")
    parser.add_argument("--kill-after", type=float, default=1.0, help="SIGKILL this long after opening (s)")
    parser.add_argument("--down", type=float, default=5.0, help="seconds the daemon stays down")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent deliveries while opening")
    parser.add_argument("--heartbeats", type=int, default=100, help="heartbeats missed in phase 1 (default 100)")
    parser.add_argument(
        "--handoff-schedules", type=int, default=10, help="schedules handing over in phase 1 (default 10)"
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="daemons on the one database, alerts spread over them; the first is the one killed (default 1)",
    )
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the database: a SQLite file, or a PostgreSQL started for the run as bench/ingest.py does",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 alerts, 1 run, short delays")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.runs, args.delay_minutes, args.down = min(args.alerts, 30), 1, 0.03, 3.0
        args.heartbeats = min(args.heartbeats, 20)
        args.handoff_schedules = min(args.handoff_schedules, 5)

    print(
        f"timers: {args.alerts} alerts per phase, {LEVELS} levels every {args.delay_minutes * 60:g} s, "
        f"repeat {args.repeat}, SIGKILL {args.kill_after:g} s after opening, down {args.down:g} s, "
        f"{args.runs} run(s), {args.instances} instance(s), store {args.store}"
    )
    per_run: list[dict[str, Any]] = []
    all_checks: list[dict[str, Any]] = []
    pg = None
    if args.store == "postgresql":
        from postgres import PgServer, find_bindir  # tests/postgres.py: how the tests start one

        pg = PgServer(find_bindir())
        pg.start()
    try:
        for run in range(1, args.runs + 1):
            began = time.monotonic()
            figures, checks = one_run(args, run, pg)
            per_run.append(figures)
            all_checks.append(checks)
            print(f"  run {run}: {time.monotonic() - began:.1f} s, checks {checks}")
    finally:
        if pg is not None:
            pg.cleanup()

    print_figures("figures (ms unless named _s / counts)", per_run)
    ok = all(
        c["duplicate_steps"] == 0
        and c["lost_alerts"] == 0
        and c["steps_fired"] == c["steps_expected"]
        and c["workflow_runs_twice"] == 0
        and c["workflow_runs_missing"] == 0
        and c.get("handoff_runs") == c.get("handoff_runs_expected")
        for c in all_checks
    )
    print(f"\nno step, workflow or handoff timer fired twice, none lost: {'yes' if ok else 'NO'}")
    summary(
        "timers",
        {
            "params": {
                "alerts": args.alerts,
                "levels": LEVELS,
                "delay_s": round(args.delay_minutes * 60, 3),
                "repeat": args.repeat,
                "kill_after_s": args.kill_after,
                "down_s": args.down,
                "heartbeats": args.heartbeats,
                "handoff_schedules": args.handoff_schedules,
                "runs": args.runs,
                "instances": args.instances,
                "store": args.store,
            },
            "median": median_figures(per_run),
            "per_run": per_run_lists(per_run),
            "checks": {
                "ok": ok,
                "duplicate_steps": sum(c["duplicate_steps"] for c in all_checks),
                "lost_alerts": sum(c["lost_alerts"] for c in all_checks),
                "steps_fired": [c["steps_fired"] for c in all_checks],
                "steps_expected": [c["steps_expected"] for c in all_checks],
                "notifications_sent": [c["notifications_sent"] for c in all_checks],
                "notifications_resent": [c["notifications_resent"] for c in all_checks],
                "outbox_drained": [c["outbox_drained"] for c in all_checks],
                "heartbeats_missed": [c.get("heartbeats_missed") for c in all_checks],
                "workflow_runs_twice": sum(c["workflow_runs_twice"] for c in all_checks),
                "workflow_runs_missing": sum(c["workflow_runs_missing"] for c in all_checks),
                "handoff_runs": [c.get("handoff_runs") for c in all_checks],
                "handoff_runs_expected": [c.get("handoff_runs_expected") for c in all_checks],
            },
        },
    )


if __name__ == "__main__":
    main()
