"""CLI latency: wall and CPU time of each command an operator types, median of N runs.

    .venv/bin/python bench/cli.py [--dir DIR] [--alerts 100000] [--schedules 1000] [--users 300] [--runs 9]
        [--only 'ack,close']

Set-up as bench/scale.py (its config: 300 users, 1000 schedules, 600 KB of TOML; its database with
100,000 open alerts), built in DIR (kept, and reused by a later call with the same DIR) or a temp
dir; plus ``small.toml``: the same database with only [store] and five users, the size of a
typical file. Each command runs as ``python -m alertd ...`` in a fresh interpreter (PYTHONPATH is
passed on, so the same script times another checkout: ``PYTHONPATH=/other/src``). ``ack`` and
``close`` act on a different open alert each run. Figures: wall (process start to exit) and CPU
(user + system of the child, from getrusage) in milliseconds, median and min of the runs. Each
command runs once untimed first (ack and close: a listing of the same file), as an operator's
second command would: the config's checked tables are kept between calls (config.quick_cache).
``--against SRC`` times another checkout in the same loop, its runs alternating with these (on a
shared machine, a comparison made minutes apart measures the neighbours); ``--only`` picks commands.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401 (puts tests/ on sys.path for the helpers scale.py imports)
from scale import build_database, write_scale_config

SMALL = """[store]
path = "{db}"

{users}
"""


def build(directory: Path, alerts: int, schedules: int, users: int) -> tuple[Path, Path]:
    big = directory / "alertd.toml"
    if not (big.exists() and (directory / "alertd.db").exists()):
        big = write_scale_config(directory, users, schedules)
        build_database(big, alerts)
    small = directory / "small.toml"
    people = "".join(f'[users.u{u:03d}]\ncontact = {{ email = "u{u:03d}@example.com" }}\n' for u in range(5))
    small.write_text(SMALL.format(db=directory / "alertd.db", users=people))
    return big, small


def timed(args: list[str], pythonpath: str | None = None, cache: str | None = None) -> tuple[float, float]:
    """Wall and CPU milliseconds of ``python -m alertd ARGS`` (with that PYTHONPATH, if given, and
    that ALERTD_CACHE_DIR); exits on a failure."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    if cache is not None:
        env["ALERTD_CACHE_DIR"] = cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "alertd", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"alertd {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def open_ids(db_path: Path, count: int) -> list[int]:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT id FROM alerts WHERE status = 'open' ORDER BY id LIMIT ?", (count,)).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="build (or reuse) the config and database here")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (default 9)")
    parser.add_argument("--only", help="only the commands whose names contain one of these (comma-separated)")
    parser.add_argument("--against", metavar="SRC", help="alternate runs with PYTHONPATH=SRC (another checkout's src)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alertd-bench-cli-") as tmp_name:
        directory = args.dir or Path(tmp_name)
        directory.mkdir(parents=True, exist_ok=True)
        big, small = build(directory, args.alerts, args.schedules, args.users)
        ids = iter(open_ids(directory / "alertd.db", 6 * args.runs))
        b, s = ("-c", str(big)), ("-c", str(small))
        commands = {
            "--version": lambda: ["--version"],
            "--help": lambda: ["--help"],
            "alerts": lambda: ["alerts", "--limit", "50", *b],
            "alerts --status open": lambda: ["alerts", "--status", "open", "--limit", "100", *b],
            "alerts (small.toml)": lambda: ["alerts", "--limit", "50", *s],
            "alerts show N": lambda: ["alerts", "show", str(args.alerts // 2), *b],
            "inbound-log": lambda: ["inbound-log", "--limit", "50", *b],
            "oncall SCHEDULE": lambda: ["oncall", "s0001", *b],
            "oncall (all 1000)": lambda: ["oncall", *b],
            "ack N": lambda: ["ack", str(next(ids)), "--user", "u001", *b],
            "close N": lambda: ["close", str(next(ids)), "--user", "u001", *b],
            "ack N (small.toml)": lambda: ["ack", str(next(ids)), "--user", "u001", *s],
        }
        load = os.getloadavg()[0]
        print(
            f"cli: {args.alerts} alerts, config {big.stat().st_size // 1024} KB, {args.runs} runs each, "
            f"python {sys.version.split()[0]}, PYTHONPATH={os.environ.get('PYTHONPATH', '-')}"
            + (f", against PYTHONPATH={args.against} (runs alternate)" if args.against else "")
        )
        trees: list[str | None] = [None, args.against] if args.against else [None]
        # Each tree keeps its cache apart: one config file has one entry per cache directory, and
        # two trees (two code fingerprints) taking turns would each find the other's and miss.
        caches = {tree: tempfile.mkdtemp(prefix="alertd-bench-cli-") for tree in trees} if args.against else {}
        head = f"{'wall median':>11} {'wall min':>9} {'cpu median':>11} {'cpu min':>8}"
        print(f"{'command':<24} {head}" + (f" | against: {head}" if args.against else "") + "  (ms)")
        if args.only:
            wanted = args.only.split(",")
            commands = {name: make for name, make in commands.items() if any(w in name for w in wanted)}
        for name, make in commands.items():
            figures: list[tuple[list[float], list[float]]] = [([], []) for _ in trees]
            for tree in trees:  # warm the caches (the config's kept tables): ack and close through a listing
                first = make() if name.startswith(("--", "alerts", "inbound", "oncall")) else None
                timed(first or ["alerts", "--limit", "1", *(s if "small" in name else b)], tree, caches.get(tree))
            for _ in range(args.runs):
                for tree, (walls, cpus) in zip(trees, figures, strict=True):
                    wall, cpu = timed(make(), tree, caches.get(tree))
                    walls.append(wall)
                    cpus.append(cpu)
            columns = [
                f"{statistics.median(walls):>11.0f} {min(walls):>9.0f} "
                f"{statistics.median(cpus):>11.0f} {min(cpus):>8.0f}"
                for walls, cpus in figures
            ]
            print(f"{name:<24} " + " | against: ".join(columns))
        print(f"load average (1 min) at start {load:.2f}, at end {os.getloadavg()[0]:.2f} (a shared machine)")
        for folder in caches.values():
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
