"""Shared pieces of the benchmarks: a daemon subprocess, signed SNS traffic, figures.

Benchmarks import the tests' helpers (tests/helpers.py, tests/sns_signing.py) rather than
copying them: the same daemon start-up and the same SNS signing the suite trusts.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import DaemonProcess, free_port, write_config  # noqa: E402
from inbound_fixtures import TOKEN, sns_config  # noqa: E402

__all__ = ["ROOT", "TOKEN", "DaemonProcess", "free_port", "sns_config", "write_config"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    """Resident memory of a process in KiB (VmHWM: the peak; VmRSS: now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(name: str, data: dict[str, Any]) -> None:
    """The one machine-readable line each benchmark ends with."""
    print("SUMMARY " + json.dumps({"bench": name, **data}, sort_keys=True))


def run_load(
    port: int,
    requests: list[tuple[str, str, dict[str, str], bytes]],
    concurrency: int,
    duration: float,
    host: str = "127.0.0.1",
    rate: float = 0.0,
) -> dict[str, Any]:
    """Drive ``requests`` through bench/loadgen.py in its own process; return rate and latencies."""
    with tempfile.TemporaryDirectory() as tmp:
        req_file, out_file = Path(tmp) / "requests.pickle", Path(tmp) / "result.json"
        req_file.write_bytes(pickle.dumps(requests))
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "loadgen.py"),
                str(req_file),
                str(out_file),
                "--host",
                host,
                "--port",
                str(port),
                "-c",
                str(concurrency),
                "-d",
                str(duration),
                "--rate",
                str(rate),
            ],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        result = json.loads(out_file.read_text())
    rows = result["results"]
    ok = [r for r in rows if 200 <= r[2] < 300]
    latencies = [(r[1] - r[0]) * 1000 for r in ok]
    return {
        "requests": len(rows),
        "ok": len(ok),
        "errors": len(rows) - len(ok),
        "elapsed_s": result["elapsed"],
        "rps": len(ok) / result["elapsed"] if result["elapsed"] else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "exhausted": result["exhausted"],
        "ok_indexes": [r[3] for r in ok],
    }


def wait_ready(url: str, timeout: float = 30) -> float:
    """Seconds until GET /readyz answers 200."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise TimeoutError("the daemon never became ready")
