"""bench/latency: from the inbound POST's 2xx to the channel plugin's send call, for new alerts.

    .venv/bin/python bench/latency.py [--alerts 200] [--background-rate 300] [--runs 3] [--quick]

A daemon on loopback escalates every new alert to one user whose email is served by a stamp
channel (bench/plugins/stamp.py, loaded through plugins_dir) that records when ``send`` is
called. While a separate load process keeps a steady background of repeat notifications
(Mapped Appended) coming, new alarms are opened one at a time at a fixed pace; for each, the
latency is (send call time) - (time the sender read the 2xx). It can be slightly negative: the
page may go out before the sender has read its answer. Figures are medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, TOKEN, DaemonProcess, median, percentile, run_load, sns_config, summary
from ingest import signed_pool

EXTRA = """
plugins_dir = "{plugins}"

[channels.stamp]
path = "{stamps}"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.page]
[[escalation_policies.page.levels]]
users = ["alice"]
delay_minutes = 600
"""


def one_run(tmp: Path, openers: list, background: list, rate: float, pace: float) -> dict[str, Any]:
    stamps = tmp / "stamps.jsonl"
    config = sns_config(tmp, EXTRA.format(plugins=ROOT / "bench" / "plugins", stamps=stamps))
    text = config.read_text()
    config.write_text(
        'plugins_dir = "'
        + str(ROOT / "bench" / "plugins")
        + '"\n'
        + text.replace(f'plugins_dir = "{ROOT / "bench" / "plugins"}"\n', "").replace(
            '[integrations.alarms]\ntype = "aws_sns"',
            '[integrations.alarms]\ntype = "aws_sns"\nescalation_policy = "page"',
        )
    )
    daemon = DaemonProcess(config).start()
    port = int(daemon.url.rsplit(":", 1)[1])
    answered: dict[str, float] = {}
    try:
        # Open the alarms the background repeats, so that they are Mapped Appended.
        with httpx.Client(timeout=10) as client:
            for _mid, body, headers in background[:ALARMS_OPEN]:
                client.post(f"{daemon.url}/in/{TOKEN}", content=body, headers=headers)
        duration = len(openers) * pace + 1
        load = threading.Thread(
            target=run_load,
            args=(port, [("POST", f"/in/{TOKEN}", h, b) for _m, b, h in background[ALARMS_OPEN:]], 4, duration),
            kwargs={"rate": rate},
            daemon=True,
        )
        load.start()
        time.sleep(0.5)
        with httpx.Client(timeout=10) as client:
            for message_id, body, headers in openers:
                started = time.monotonic()
                response = client.post(f"{daemon.url}/in/{TOKEN}", content=body, headers=headers)
                if response.status_code == 200:
                    answered[message_id] = time.time()
                time.sleep(max(0.0, pace - (time.monotonic() - started)))
        load.join()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sent = [json.loads(line) for line in stamps.read_text().splitlines()] if stamps.exists() else []
            if len(sent) >= len(answered) + ALARMS_OPEN:
                break
            time.sleep(0.1)
    finally:
        daemon.stop()
        daemon.kill()
    conn = sqlite3.connect(tmp / "alertd.db")
    alert_of = dict(conn.execute("SELECT source_message_id, alert_id FROM inbound_log WHERE outcome = 'Mapped Open'"))
    appended = conn.execute("SELECT COUNT(*) FROM inbound_log WHERE outcome = 'Mapped Appended'").fetchone()[0]
    conn.close()
    sent_at = {s["alert_id"]: s["at"] for s in sent}
    latencies = [
        (sent_at[alert_of[mid]] - at) * 1000
        for mid, at in answered.items()
        if mid in alert_of and alert_of[mid] in sent_at
    ]
    return {
        "alerts": len(answered),
        "measured": len(latencies),
        "background_appended": appended,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "min_ms": min(latencies, default=float("nan")),
    }


ALARMS_OPEN = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=200, help="new alerts per run")
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between new alerts")
    parser.add_argument("--background-rate", type=float, default=300.0, help="repeat notifications/s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.runs, args.background_rate = 40, 1, 100
    duration = args.alerts * args.pace + 1
    background_count = ALARMS_OPEN + int(args.background_rate * duration * 1.2) + 10
    # The background: the first ALARMS_OPEN open alarms, the rest repeat them (Mapped Appended).
    background = signed_pool(0, alarm_messages([f"Background{i % ALARMS_OPEN}" for i in range(background_count)], "bg"))
    openers = signed_pool(0, alarm_messages([f"New{i}" for i in range(args.alerts)], "new"))
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            result = one_run(Path(tmp), openers, background, args.background_rate, args.pace)
        results.append(result)
        print(
            f"run {run + 1}: {result['measured']}/{result['alerts']} alerts  p50 {result['p50_ms']:.1f} ms  "
            f"p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms  (background appended: "
            f"{result['background_appended']})"
        )
    figures = {k: median([r[k] for r in results]) for k in ("p50_ms", "p99_ms", "max_ms")}
    print(
        f"\nmedian over {args.runs} runs: p50 {figures['p50_ms']:.1f} ms  p99 {figures['p99_ms']:.1f} ms  "
        f"max {figures['max_ms']:.1f} ms, with {args.background_rate:.0f}/s background repeats"
    )
    summary("latency", {**figures, "background_rate": args.background_rate, "alerts": args.alerts, "runs": results})


def alarm_messages(names: list[str], prefix: str) -> list[tuple[str, str]]:
    """(Message, MessageId) of an ALARM for each name."""
    from inbound_fixtures import sample_message

    template = json.loads(sample_message("sns-cloudwatch-alarm-ALARM.json")[0])
    return [
        (
            json.dumps(
                {**template, "AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"}
            ),
            f"{prefix}-{i}",
        )
        for i, name in enumerate(names)
    ]


if __name__ == "__main__":
    main()
