"""bench/startup: start to ``GET /readyz`` 200, repeated, optionally alternating two code trees.

    .venv/bin/python bench/startup.py -c CONFIG [--starts 7] [--tree PATHS ...]

Each start is ``python -m alertd run -c CONFIG`` in a fresh interpreter; ``/readyz`` is polled
every 5 ms over a raw socket (no HTTP client in the poller's way). After ready the daemon's RSS
is read and it gets SIGTERM. With ``--tree`` (repeatable), each tree is a ``PYTHONPATH`` put first
(e.g. an older checkout's ``src`` and plugin ``src`` folders, joined by ``:``; ``""`` for this
code), and the trees take turns, so that a shared machine's load falls on all alike. Printed:
per tree the median, min and max seconds to ready and the median RSS after ready, and the load
average. Compile first (``python -m compileall -q src plugins``) when PYTHONDONTWRITEBYTECODE is set.

``alertd run`` keeps the validated config and the plugin scan between starts (README: "What
``alertd run`` keeps between starts"), written just after ready. So that the timed starts are
restarts, as a long-running daemon's next start is, each tree first gets one untimed start that
runs ``--settle`` seconds past ready (with several trees, each in a cache directory of its own).
``--cold`` times first starts instead: each start gets an empty cache directory
(``ALERTD_CACHE_DIR``), as after a change of the config file.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, rss_kib, summary


def listen_address(config: Path) -> tuple[str, int]:
    match = re.search(r'^listen\s*=\s*"([^"]+):(\d+)"', config.read_text(), re.M)
    if match is None:
        sys.exit(f'{config}: no [server] listen = "HOST:PORT" line')
    return match.group(1), int(match.group(2))


def ready(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1) as sock:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_start(
    config: Path, tree: str, timeout: float, settle: float = 0.0, cold: bool = False, cache: str | None = None
) -> tuple[float, float, float]:
    """(seconds to ready, CPU seconds used by then, RSS MiB after ready); the daemon runs
    ``settle`` seconds past ready before it is stopped. ``cache``: the tree's own cache directory."""
    env = dict(os.environ)
    empty = tempfile.TemporaryDirectory(prefix="alertd-cold-") if cold else None
    if empty is not None:
        env["ALERTD_CACHE_DIR"] = empty.name
    elif cache is not None:
        env["ALERTD_CACHE_DIR"] = cache
    if tree:
        env["PYTHONPATH"] = tree + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    address = listen_address(config)
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertd", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not ready(address):
            if proc.poll() is not None:
                sys.exit(f"alertd exited {proc.returncode} before ready (tree {tree!r})")
            if time.monotonic() - began > timeout:
                sys.exit(f"not ready within {timeout} s (tree {tree!r})")
            time.sleep(0.005)
        took = time.monotonic() - began
        cpu = cpu_seconds(proc.pid)
        rss = rss_kib(proc.pid, "VmRSS") / 1024
        time.sleep(settle)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if empty is not None:
            empty.cleanup()
    return took, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", type=Path, required=True)
    parser.add_argument("--starts", type=int, default=7, help="starts per tree (default 7)")
    parser.add_argument("--tree", action="append", help='[LABEL=]PYTHONPATH put first ("" = this code); repeatable')
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds the untimed first start runs past ready (default 3)"
    )
    parser.add_argument("--cold", action="store_true", help="time first starts: an empty cache directory each")
    args = parser.parse_args()
    if not 0 <= args.settle <= 60:
        parser.error("--settle: expected 0 to 60 seconds")
    trees = args.tree or [""]
    results: dict[str, list[tuple[float, float, float]]] = {tree: [] for tree in trees}
    load = [os.getloadavg()[0]]
    # Each tree keeps its cache apart: one config path has one entry per directory, and two trees'
    # code makes two different entries, so a shared directory would turn every restart into a miss.
    caches = (
        {tree: tempfile.TemporaryDirectory(prefix="alertd-bench-cache-") for tree in trees} if len(trees) > 1 else {}
    )
    cache = {tree: (caches[tree].name if tree in caches else None) for tree in trees}
    if not args.cold:  # what a running daemon keeps for its next start is written once
        for tree in trees:
            path = tree.partition("=")[2] if "=" in tree else tree
            one_start(args.config, path, args.timeout, settle=args.settle, cache=cache[tree])
    for _ in range(args.starts):
        for tree in trees:
            path = tree.partition("=")[2] if "=" in tree else tree
            results[tree].append(one_start(args.config, path, args.timeout, cold=args.cold, cache=cache[tree]))
        load.append(os.getloadavg()[0])
    figures = {}
    for i, tree in enumerate(trees):
        times = [t for t, _, _ in results[tree]]
        cpu = [c for _, c, _ in results[tree]]
        rss = [r for _, _, r in results[tree]]
        name = tree.partition("=")[0] if "=" in tree else (tree or "this code")
        kind = "first starts" if args.cold else "restarts"
        print(
            f"{name} ({kind}): start to ready median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} starts), "
            f"CPU by then median {statistics.median(cpu):.3f} s, RSS median {statistics.median(rss):.1f} MiB"
        )
        figures[f"tree{i}"] = {
            "tree": name,
            "start_ready_s": round(statistics.median(times), 3),
            "cpu_s": round(statistics.median(cpu), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "rss_mb": round(statistics.median(rss), 1),
            "cold": args.cold,
        }
    print(f"load average (1 min) during the runs: {min(load):.2f} to {max(load):.2f}")
    figures["load"] = [round(min(load), 2), round(max(load), 2)]
    summary("startup", figures)


if __name__ == "__main__":
    main()
