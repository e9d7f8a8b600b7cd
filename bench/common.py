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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsync_latency_ms(directory: Path, rounds: int = 50) -> float:
    """Median time of a 4 KiB write + fsync in ``directory`` (the disk under a commit)."""
    times = []
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for i in range(rounds):
            began = time.perf_counter()
            os.pwrite(fd, os.urandom(4096), (i % 8) * 4096)
            os.fsync(fd)
            times.append(time.perf_counter() - began)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


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


# --- added for bench/timers.py and bench/scale.py -----------------------------------------


def log_time(line: str) -> float | None:
    """The Unix time in a daemon log line's ``ts=`` field (ms resolution); None without one (journald)."""
    import re
    from datetime import UTC, datetime

    match = re.search(r"\bts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z", line)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def ms_stats(prefix: str, seconds: list[float]) -> dict[str, float | int | None]:
    """``{prefix}_n``, ``_p50_ms``, ``_p99_ms``, ``_max_ms`` of durations given in seconds (None when empty)."""
    ms = [s * 1000 for s in seconds]
    return {
        f"{prefix}_n": len(ms),
        f"{prefix}_p50_ms": round(percentile(ms, 50), 2) if ms else None,
        f"{prefix}_p99_ms": round(percentile(ms, 99), 2) if ms else None,
        f"{prefix}_max_ms": round(max(ms), 2) if ms else None,
    }


def median_figures(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over the runs of every numeric figure (None when no run has a value for it)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for run in per_run for k in run):
        values = [run.get(key) for run in per_run]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        out[key] = round(median(numbers), 3) if numbers else None
    return out


def per_run_lists(per_run: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every figure as the list of its per-run values, for the SUMMARY line."""
    return {key: [run.get(key) for run in per_run] for key in dict.fromkeys(k for run in per_run for k in run)}


def print_figures(title: str, per_run: list[dict[str, Any]], keys: list[str] | None = None) -> None:
    """A readable table: one row per figure, one column per run, then the median."""
    medians = median_figures(per_run)
    keys = keys or list(medians)

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    width = max(len(k) for k in keys)
    head = "".join(f"{'run ' + str(i + 1):>12}" for i in range(len(per_run)))
    print(f"\n{title}\n{'figure':<{width}}{head}{'median':>12}")
    for key in keys:
        runs = "".join(f"{cell(run.get(key)):>12}" for run in per_run)
        print(f"{key:<{width}}{runs}{cell(medians.get(key)):>12}")


def set_integration_policy(config: Path, policy: str, integration: str = "alarms") -> None:
    """Give an integration written by ``sns_config`` an escalation policy (as tests/test_escalation.py does)."""
    text = config.read_text()
    marker = f'[integrations.{integration}]\ntype = "aws_sns"\n'
    if marker not in text:
        raise ValueError(f"no [integrations.{integration}] table of type aws_sns in {config}")
    config.write_text(text.replace(marker, marker + f"escalation_policy = {json.dumps(policy)}\n", 1))


def prepend_top_level(config: Path, lines: str) -> None:
    """Add top-level keys (``plugins_dir = ...``), which TOML needs before the first table."""
    config.write_text(lines.rstrip("\n") + "\n" + config.read_text())


def signed_alarm(name: str, topic: str | None = None) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed SNS Notification carrying a CloudWatch ALARM whose AlarmName and
    AlarmArn are ``name``: every distinct name opens its own alert (source id = AlarmArn)."""
    from inbound_fixtures import sample_message
    from sns_signing import DEFAULT_TOPIC, headers_for, notification

    message, _message_id, _subject = sample_message("sns-cloudwatch-alarm-ALARM.json")
    data = json.loads(message)
    data["AlarmName"] = name
    data["AlarmArn"] = data["AlarmArn"].rsplit(":", 1)[0] + ":" + name
    envelope = notification(data, topic=topic or DEFAULT_TOPIC, subject=f'ALARM: "{name}"')
    return headers_for(envelope), json.dumps(envelope).encode()
