"""Item 25: CLI writes beside a busy daemon, and first CLI calls racing on a fresh database.

The CLI's transactions must take the write lock up front (BEGIN IMMEDIATE) so that
SQLite's busy timeout applies; a deferred BEGIN fails at once with "database is
locked" whenever the daemon commits between the CLI's read and its write.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from alertd.cli import build_cli
from helpers import DaemonProcess, wait_until
from inbound_fixtures import TOKEN, Db, post_envelope, sample_message, sns_config
from sns_signing import headers_for, notification

RATE = 150  # inbound messages per second, as in the report
CLI_CALLS = 50


def _alarm(arn: str) -> dict:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    data = json.loads(message)
    data["AlarmArn"] = arn
    data["AlarmName"] = arn.rsplit(":", 1)[-1]
    return data


class Load:
    """Threads posting signed alarm repeats (each one a committed write) at about RATE per second."""

    def __init__(self, url: str, threads: int = 8) -> None:
        self.url = url
        self.stop = threading.Event()
        self.accepted = 0
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.message = _alarm("arn:aws:cloudwatch:us-east-1:123456789012:alarm:load")
        self.threads = [threading.Thread(target=self._run, args=(threads,), daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def rate(self) -> float:
        return self.accepted / (time.monotonic() - self.started)

    def _run(self, threads: int) -> None:
        interval = threads / RATE
        next_at = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                envelope = notification(self.message)
                response = client.post(f"/in/{TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope))
                if response.status_code == 200:
                    with self.lock:
                        self.accepted += 1
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)  # pacing the load, not synchronisation
                else:
                    next_at = time.monotonic()


def test_cli_acks_and_closes_succeed_under_inbound_load(tmp_path: Path) -> None:
    config = sns_config(tmp_path)
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config) as daemon:
        for i in range(CLI_CALLS // 2):
            arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:cli-{i}"
            assert post_envelope(daemon, notification(_alarm(arn))).status_code == 200
        ids = [a["id"] for a in wait_until(lambda: db.alerts() if len(db.alerts()) >= CLI_CALLS // 2 else None)]
        group, pm = build_cli()
        runner = CliRunner()
        results = []
        deadline = time.monotonic() + 60
        with Load(daemon.url) as load:
            wait_until(lambda: load.accepted >= RATE // 2, what="load to start")
            for action in ("ack", "close"):
                for alert_id in ids:
                    assert time.monotonic() < deadline, "the CLI calls took longer than 60 s"
                    result = runner.invoke(group, ["-c", str(config), action, str(alert_id), "--user", "erik"], obj=pm)
                    results.append((action, alert_id, result.exit_code, result.output))
            rate = load.rate()
    failures = [r for r in results if r[2] != 0]
    print(f"{len(results)} CLI calls under {rate:.0f} accepted messages/s: {len(failures)} failed")
    assert not failures, failures[:3]
    assert len(results) == CLI_CALLS
    assert rate > 40, f"the load was too light to mean anything: {rate:.0f}/s"
    statuses = {a["id"]: a["status"] for a in db.alerts()}
    assert all(statuses[i] == "closed" for i in ids)


# Each process imports everything first, says it is ready, then waits for the go file, so
# that the first CLI calls really meet on the fresh database (start-up takes ~1 s otherwise).
RACER = """
import sys, time
from pathlib import Path
import alertd.cli, alertd.integrations, alertd.store.schema
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
sys.argv = ["alertd", *sys.argv[3:]]
alertd.cli.main()
"""


def test_simultaneous_first_cli_calls_on_a_fresh_database(tmp_path: Path) -> None:
    # An integration without a configured token: the first call stores a generated one.
    config = sns_config(tmp_path, '\n[integrations.generated]\ntype = "aws_sns"\n')
    for round_ in range(3):
        (tmp_path / "alertd.db").unlink(missing_ok=True)
        go = tmp_path / f"go-{round_}"
        ready = [tmp_path / f"ready-{round_}-{i}" for i in range(6)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(r), str(go), "-c", str(config), "integrations"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for r in ready
        ]
        wait_until(lambda ready=ready: all(r.exists() for r in ready), timeout=60, what="the CLI processes to be ready")
        go.touch()
        outcomes = [(*p.communicate(timeout=60), p.returncode) for p in procs]
        assert all(code == 0 for _out, _err, code in outcomes), (round_, [err for _o, err, _c in outcomes])
        urls = {out for out, _err, _code in outcomes}
        assert len(urls) == 1, "every call must see the same generated token"
