"""Scale: 100,000 open alerts and 1,000 schedules: memory, start-up, `alertd oncall`, alert lists.

    .venv/bin/python bench/scale.py [--alerts 100000] [--schedules 1000] [--users 300] [--runs 3] [--quick]

Set-up (once, in a temp dir): an ``alertd check-config``-valid alertd.toml with the users, the
schedules (each: a weekly rotation of 3 users, a weekend layer restricted to Saturday and Sunday
daytime, three overrides, the zones varying), an aws_sns integration and ``server.api_tokens``;
a database made by the schema migrations and bulk-inserted (executemany, one transaction) with the
open alerts, their finished escalation plans (nothing to fire at start) and one timeline event
each. The schedules' iCal tokens are generated at build time (as the first start would), so every
run starts the same way.

Each run starts the daemon as a subprocess and measures: start-up (process start to ``/readyz``
200), RSS after start and the peak after the measurements, the CLI wall times (``alertd oncall``
for all schedules and for one, ``alertd alerts --status open --limit 100``, and ``alertd
--version`` as the floor of any CLI call), ``GET /api/v1/alerts?status=open&limit=100`` latency,
the console's pages (alerts, an alert, the inbound log: ``web_*_ms``) and the time from a console
acknowledgement's commit to the notice on an open page's event stream (``web_live_*_ms``),
and in-process: ``on_call_at`` over all schedules at one instant (plus how that splits between
compiling a schedule and evaluating it) and the SQL of the alert list.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import (
    DaemonProcess,
    median_figures,
    ms_stats,
    per_run_lists,
    print_figures,
    rss_kib,
    set_integration_policy,
    sns_config,
    summary,
    wait_ready,
)

from helpers import alertd_cmd

API_TOKEN = "bench-scale-api-token-0123456789"
CONSOLE_USER, CONSOLE_PASSWORD = "u000", "bench-console-password"
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles"]


# --- the config ----------------------------------------------------------------------------


def schedule_toml(i: int, users: int, today: date) -> str:
    name = f"s{i:04d}"
    weekly = [f"u{(3 * i + k) % users:03d}" for k in range(3)]
    weekend = [f"u{(3 * i + users // 2 + k) % users:03d}" for k in range(2)]
    spare = f"u{(7 * i + 1) % users:03d}"
    # Overrides (local times in the schedule's zone): one last week, one next week, and for every
    # fourth schedule one covering today, so some answers come from an override.
    past = today - timedelta(days=7)
    future = today + timedelta(days=7)
    overrides = [(past, 9, past + timedelta(days=1), 9), (future, 18, future + timedelta(days=2), 9)]
    if i % 4 == 0:
        overrides.append((today - timedelta(days=1), 0, today + timedelta(days=1), 0))
    lines = [
        f"[schedules.{name}]",
        f'timezone = "{ZONES[i % len(ZONES)]}"',
        f"[[schedules.{name}.layers]]",
        'name = "weekly"',
        f"users = {json.dumps(weekly)}",
        'shift = "1w"',
        "handoff = 09:00:00",
        "start = 2026-01-05",
        f"[[schedules.{name}.layers]]",
        'name = "weekend"',
        f"users = {json.dumps(weekend)}",
        'shift = "1d"',
        "handoff = 08:00:00",
        "start = 2026-01-03",
        'restrictions = [{ days = ["sat", "sun"], start = 08:00:00, end = 20:00:00 }]',
    ]
    for start_day, start_hour, end_day, end_hour in overrides:
        lines += [
            f"[[schedules.{name}.overrides]]",
            f'user = "{spare}"',
            f"start = {start_day.isoformat()}T{start_hour:02d}:00:00",
            f"end = {end_day.isoformat()}T{end_hour:02d}:00:00",
        ]
    return "\n".join(lines) + "\n"


def write_scale_config(tmp: Path, users: int, schedules: int) -> Path:
    today = datetime.now(UTC).date()
    parts = [
        "".join(
            f'[users.u{u:03d}]\nfull_name = "User {u}"\ncontact = {{ email = "u{u:03d}@example.com" }}\n'
            for u in range(users)
        ),
        "".join(schedule_toml(i, users, today) for i in range(schedules)),
        "[escalation_policies.primary]\n"
        '[[escalation_policies.primary.levels]]\nschedules = ["s0000"]\ndelay_minutes = 10\n'
        f'[[escalation_policies.primary.levels]]\nschedules = ["s{min(1, schedules - 1):04d}"]\n',
    ]
    config = sns_config(tmp, "\n" + "\n".join(parts), server=f"api_tokens = [{json.dumps(API_TOKEN)}]")
    set_integration_policy(config, "primary")
    return config


# --- the database --------------------------------------------------------------------------


def build_database(config_path: Path, alerts: int, outbox_per_alert: int = 0) -> dict[str, float]:
    from alertd.config import load_config
    from alertd.integrations import ensure_ical_tokens
    from alertd.store import connect
    from alertd.store.schema import migrate

    config = load_config(config_path)  # without plugins: the raw config is all the database needs
    db = connect(config.db_path)
    migrate(db)
    now = time.time()
    started = time.monotonic()
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
    alert_rows = []
    plan_rows = []
    event_rows = []
    inbound_rows = []
    for i in range(1, alerts + 1):
        created = now - (alerts - i) * 2.0  # one every 2 s, the newest just now
        title = f"ALARM: scale-{i:06d} in US East (N. Virginia)"
        alert_rows.append(
            (
                i,
                "alarms",
                f"{arn}scale-{i:06d}",
                "open",
                title,
                "More than 3 failed console sign-in attempts in 5 minutes",
                "critical",
                json.dumps(["aws", "cloudwatch"]),
                json.dumps({"region": "us-east-1", "metric": "ConsoleSigninFailureCount"}),
                "primary",
                created,
                created,
            )
        )
        plan_rows.append((i, "primary", 1, 0, "finished", "policy exhausted", created + 600))
        event_rows.append((i, created, "opened", "alarms", "source", json.dumps({"inbound_id": i, "title": title})))
        # The inbound message that opened it (the console's inbound log and alert detail read these).
        body = json.dumps({"Type": "Notification", "MessageId": f"m-{i}", "Message": json.dumps({"AlarmName": title})})
        inbound_rows.append((i, created, "alarms", "POST", "{}", body.encode(), len(body), f"m-{i}", i))
    # Optional history of delivered notifications (not in the brief's database; see --outbox-per-alert).
    outbox_rows = [
        (i, f"u{j:03d}", "email", f"u{j:03d}@example.com", "smtp", "alert", f"0:{j}", f"{i}:0:{j}:u{j:03d}:email", now)
        for i in range(1, alerts + 1)
        for j in range(outbox_per_alert)
    ]
    conn = db.conn
    with conn:
        conn.executemany(
            "INSERT INTO alerts (id, integration, source_id, status, title, description, severity, tags, fields, "
            "escalation_policy, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            alert_rows,
        )
        conn.executemany(
            "INSERT INTO inbound_log (id, received_at, integration, method, headers, body, body_size, message_type, "
            "source_message_id, outcome, status, accepted, alert_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'Notification', ?, 'Mapped Open', 200, 1, ?)",
            inbound_rows,
        )
        conn.execute("UPDATE alerts SET first_inbound_id = id, last_inbound_id = id")
        conn.executemany(
            "INSERT INTO escalations (alert_id, policy, level, pass, next_due, state, reason, updated_at) "
            "VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
            plan_rows,
        )
        conn.executemany(
            "INSERT INTO alert_events (alert_id, at, kind, actor, via, detail) VALUES (?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        # A real history was dispatched as it happened: the dispatcher's cursor is past it (the
        # migration set it to 0 on the empty database), or the idle daemon would replay 100k events.
        conn.execute(
            "UPDATE event_cursors SET last_id = (SELECT COALESCE(MAX(id), 0) FROM alert_events) WHERE name = 'dispatch'"
        )
        conn.executemany(
            "INSERT INTO outbox (alert_id, user, kind, address, channel, purpose, step, idempotency_key, status, "
            "attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sent', 1, ?, ?9)",
            outbox_rows,
        )
        ensure_ical_tokens(db, config)
        from alertd.web.auth import hash_password, set_password

        set_password(db, CONSOLE_USER, hash_password(CONSOLE_PASSWORD), now)
    inserted = time.monotonic() - started
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    size = config.db_path.stat().st_size
    return {"insert_s": round(inserted, 3), "db_mb": round(size / 1e6, 1)}


# --- measurements --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cli_wall(config: Path, args: list[str], repeats: int, expect_lines: int | None = None) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        result = subprocess.run(alertd_cmd(*args, "-c", str(config)), capture_output=True, text=True, timeout=600)
        times.append(time.monotonic() - started)
        if result.returncode != 0:
            raise RuntimeError(f"alertd {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        lines = len(result.stdout.splitlines())
        if expect_lines is not None and lines != expect_lines:
            raise RuntimeError(f"alertd {' '.join(args)}: expected {expect_lines} lines of output, got {lines}")
    return times


def in_process(config_path: Path, repeats: int) -> dict[str, Any]:
    """on_call_at over every schedule at one instant, and the alert list's SQL, in this process."""
    from alertd import alerts, oncall
    from alertd.config import load_config
    from alertd.store import connect

    figures: dict[str, Any] = {}
    started = time.monotonic()
    config = load_config(config_path)
    figures["config_load_s"] = round(time.monotonic() - started, 3)
    schedules = list(config.raw.schedules.values())
    at = datetime.now(UTC)

    def timed(fn: Any) -> float:
        runs = []
        for _ in range(repeats):
            began = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - began)
        return statistics.median(runs)

    figures["on_call_at_all_ms"] = round(timed(lambda: [oncall.on_call_at(s, at) for s in schedules]) * 1000, 2)
    figures["on_call_at_each_us"] = round(figures["on_call_at_all_ms"] * 1000 / max(1, len(schedules)), 1)
    # Where the time goes: building the compiled schedule (done on every public call) vs. asking it.
    compile_schedule = getattr(oncall, "_Schedule", None)
    if compile_schedule is not None:
        figures["compile_all_ms"] = round(timed(lambda: [compile_schedule(s) for s in schedules]) * 1000, 2)
        compiled = [compile_schedule(s) for s in schedules]
        utc = at.astimezone(UTC)
        figures["evaluate_all_ms"] = round(timed(lambda: [c.evaluate(utc) for c in compiled]) * 1000, 2)

    db = connect(config.db_path, readonly=True)
    sql_times = []
    for _ in range(max(20, repeats * 10)):
        began = time.perf_counter()
        rows = alerts.list_alerts(db, "open", 100)
        sql_times.append(time.perf_counter() - began)
    if len(rows) != 100:
        raise RuntimeError(f"the alert list returned {len(rows)} rows, expected 100")
    figures["list_sql_p50_ms"] = round(statistics.median(sql_times) * 1000, 3)
    # The query of alertd.alerts.list_alerts (its columns matter: an index that covers them is cheaper).
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id, integration, source_id, status, title, severity, created_at, updated_at, "
        "append_count FROM alerts WHERE status = ? ORDER BY id DESC LIMIT ?",
        ["open", 100],
    ).fetchall()
    figures["list_sql_plan"] = "; ".join(row[-1] for row in plan)
    db.conn.close()
    return figures


def api_latency(url: str, requests: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    times = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        first = client.get("/api/v1/alerts", params={"status": "open", "limit": 100})
        first.raise_for_status()
        if len(first.json()) != 100:
            raise RuntimeError(f"the API listed {len(first.json())} alerts, expected 100")
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get("/api/v1/alerts", params={"status": "open", "limit": 100})
            times.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"GET /api/v1/alerts answered {response.status_code}: {response.text[:200]}")
    stats = ms_stats("api_list", times)
    stats.pop("api_list_n")
    return stats


def console_latency(url: str, requests: int, alerts: int) -> dict[str, Any]:
    """The console's pages over HTTP, logged in: the alerts page (first 50 open), an alert's
    detail and the inbound log page; then the live view: the time from sending a console ack
    (its commit is inside that request) to the notice on an open page's event stream."""
    import re
    import threading

    figures: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        data = {"user": CONSOLE_USER, "password": CONSOLE_PASSWORD, "csrf": csrf}
        if client.post("/login", data=data).status_code != 303:
            raise RuntimeError("could not log in to the console")
        middle = alerts // 2
        for name, path in (("web_alerts", "/alerts"), ("web_alert", f"/alerts/{middle}"), ("web_inbound", "/inbound")):
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {response.status_code}")
            stats = ms_stats(name, times)
            stats.pop(f"{name}_n")
            figures.update(stats)
        page = client.get("/alerts").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        cookies = dict(client.cookies)

    notices: list[float] = []
    opened = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=url, cookies=cookies, timeout=60) as stream_client,
            stream_client.stream("GET", "/live") as stream,
        ):
            opened.set()
            for line in stream.iter_lines():
                if line.startswith("event: alerts"):
                    notices.append(time.perf_counter())
                if len(notices) >= samples:
                    return

    samples = 20
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    opened.wait(10)
    time.sleep(0.2)
    delays = []
    with httpx.Client(base_url=url, cookies=cookies, timeout=60) as client:
        for k in range(samples):
            seen = len(notices)
            # From before the request: an upper bound of commit -> notice (the commit is inside it).
            sent = time.perf_counter()
            response = client.post(f"/alerts/{k + 1}/ack", data={"csrf": csrf})
            if response.status_code != 303:
                raise RuntimeError(f"console ack answered {response.status_code}")
            deadline = time.monotonic() + 5
            while len(notices) <= seen and time.monotonic() < deadline:
                time.sleep(0.001)
            if len(notices) <= seen:
                raise RuntimeError("no live notice within 5 s of the commit")
            delays.append(notices[seen] - sent)
    stats = ms_stats("web_live", delays)
    stats.pop("web_live_n")
    figures.update(stats)
    return figures


def one_run(args: argparse.Namespace, config: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    daemon = DaemonProcess(config)
    began = time.monotonic()
    try:
        daemon.start(timeout=300)
        figures["start_listening_s"] = round(time.monotonic() - began, 3)
        wait_ready(daemon.url, timeout=300)
        figures["start_ready_s"] = round(time.monotonic() - began, 3)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        time.sleep(0.5)  # let the first loop iterations settle before reading memory
        figures["rss_after_start_mb"] = round(rss_kib(pid, "VmRSS") / 1024, 1)
        # CPU the idle daemon burns (its loops poll the database every 2 s).
        cpu_before, idle_began = cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle_seconds)
        figures["idle_cpu_pct"] = round(100 * (cpu_seconds(pid) - cpu_before) / (time.monotonic() - idle_began), 2)

        reps = args.cli_repeats
        figures["cli_version_s"] = round(statistics.median(cli_wall(config, ["--version"], reps)), 3)
        figures["cli_oncall_all_s"] = round(
            statistics.median(cli_wall(config, ["oncall"], reps, expect_lines=args.schedules)), 3
        )
        figures["cli_oncall_one_s"] = round(statistics.median(cli_wall(config, ["oncall", "s0000"], reps)), 3)
        figures["cli_alerts_list_s"] = round(
            statistics.median(
                cli_wall(config, ["alerts", "--status", "open", "--limit", "100"], reps, expect_lines=101)  # + header
            ),
            3,
        )
        figures.update(api_latency(daemon.url, args.api_requests))
        figures.update(console_latency(daemon.url, args.api_requests, args.alerts))
        figures["rss_end_mb"] = round(rss_kib(pid, "VmRSS") / 1024, 1)
        figures["rss_peak_mb"] = round(rss_kib(pid, "VmHWM") / 1024, 1)
        stopping = time.monotonic()
        code = daemon.stop(timeout=60)
        figures["stop_s"] = round(time.monotonic() - stopping, 3)
        if code != 0:
            print(f"  warning: the daemon exited {code} on SIGTERM", file=sys.stderr)
    finally:
        daemon.kill()
    figures.update(in_process(config, args.cli_repeats))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="open alerts in the database (default 100000)")
    parser.add_argument("--schedules", type=int, default=1000, help="schedules in the config (default 1000)")
    parser.add_argument("--users", type=int, default=300, help="users in the config (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are medians (default 3)")
    parser.add_argument("--cli-repeats", type=int, default=5, help="times each CLI command is timed (default 5)")
    parser.add_argument("--api-requests", type=int, default=200, help="API requests timed (default 200)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle window for the CPU figure (default 5)")
    parser.add_argument(
        "--outbox-per-alert",
        type=int,
        default=0,
        help="also insert this many delivered notifications per alert into the outbox (default 0)",
    )
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 alerts, 50 schedules, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.schedules, args.users = 2000, 50, 30
        args.runs, args.cli_repeats, args.api_requests, args.idle_seconds = 1, 2, 20, 1.0
    if args.users < 5 or args.schedules < 1 or args.alerts < 100:
        parser.error("need at least 5 users, 1 schedule and 100 alerts")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        # The build inserts fixed ids: a second build into the same folder would collide.
        parser.error(f"--keep {args.keep}: the folder is not empty (give a new or empty folder)")

    print(
        f"scale: {args.alerts} open alerts, {args.schedules} schedules, {args.users} users, "
        f"{args.outbox_per_alert} sent notification(s) per alert, {args.runs} run(s)"
    )
    with tempfile.TemporaryDirectory(prefix="alertd-bench-scale-") as tmp_name:
        tmp = Path(tmp_name) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        config = write_scale_config(tmp, args.users, args.schedules)
        checking = time.monotonic()
        checked = subprocess.run(alertd_cmd("check-config", "-c", str(config)), capture_output=True, text=True)
        if checked.returncode != 0:
            sys.exit(f"the generated config is not valid:\n{checked.stdout}{checked.stderr}")
        build = {"config_kb": round(config.stat().st_size / 1024, 1)}
        build["check_config_s"] = round(time.monotonic() - checking, 3)
        build.update(build_database(config, args.alerts, args.outbox_per_alert))
        print(f"  built in {time.monotonic() - started:.1f} s: {build}; {checked.stdout.strip()}")

        per_run = []
        for run in range(1, args.runs + 1):
            began = time.monotonic()
            per_run.append(one_run(args, config))
            print(f"  run {run}: {time.monotonic() - began:.1f} s")

    plans = {run.pop("list_sql_plan", "") for run in per_run}
    print_figures("figures (_s seconds, _ms milliseconds, _us microseconds, _mb MiB)", per_run)
    print(f"\nalert list query plan: {' | '.join(sorted(plans))}")
    summary(
        "scale",
        {
            "params": {
                "alerts": args.alerts,
                "schedules": args.schedules,
                "users": args.users,
                "runs": args.runs,
                "cli_repeats": args.cli_repeats,
                "api_requests": args.api_requests,
                "outbox_per_alert": args.outbox_per_alert,
            },
            "build": build,
            "median": median_figures(per_run),
            "per_run": per_run_lists(per_run),
            "list_sql_plan": sorted(plans),
        },
    )


if __name__ == "__main__":
    main()
