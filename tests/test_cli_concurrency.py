"""Item 25: CLI writes beside a busy daemon, and first CLI calls racing on a fresh database.

The CLI's transactions must take the write lock up front (BEGIN IMMEDIATE) so that
SQLite's busy timeout applies; a deferred BEGIN fails at once with "database is
locked" whenever the daemon commits between the CLI's read and its write.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

import sns_signing
from alertd.cli import build_cli
from helpers import DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import TOKEN, Db, post_envelope, sample_message, sns_config
from sns_signing import notification

RATE = 150  # inbound messages per second, as in the report
CLI_CALLS = 50


def _alarm(arn: str) -> dict:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    data = json.loads(message)
    data["AlarmArn"] = arn
    data["AlarmName"] = arn.rsplit(":", 1)[-1]
    return data


# The load runs in its own process (its own GIL: signing and HTTP do not compete with
# the CLI calls in this one): THREADS senders pace themselves to RATE in total, until
# the stop file appears (or 90 s pass), then print how many messages were accepted
# and over how many seconds.
LOADER = """
import json, sys, threading, time
from pathlib import Path
import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key
sys.path.insert(0, sys.argv[1])
import sns_signing
from sns_signing import headers_for, notification
# The key whose certificate the daemon trusts (seeded by the test process).
sns_signing._KEY = load_pem_private_key(Path(sys.argv[8]).read_bytes(), None)
url, token, rate, threads = sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
stop_file, message = Path(sys.argv[6]), json.loads(sys.argv[7])
accepted, lock, start = [0], threading.Lock(), time.monotonic()
def run():
    interval, next_at = threads / rate, time.monotonic()
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop_file.exists() and time.monotonic() - start < 90:
            envelope = notification(message)
            response = client.post("/in/" + token, content=json.dumps(envelope), headers=headers_for(envelope))
            if response.status_code == 200:
                with lock:
                    accepted[0] += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not synchronisation
            else:
                next_at = time.monotonic()
workers = [threading.Thread(target=run) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(accepted[0], time.monotonic() - start, flush=True)
"""


class Load:
    """Signed alarm repeats (each one a committed write) at about RATE per second, from another process."""

    def __init__(self, url: str, tmp_path: Path, threads: int = 16) -> None:
        self.stop_file = tmp_path / "stop-load"
        message = _alarm("arn:aws:cloudwatch:us-east-1:123456789012:alarm:load")
        self.args = [sys.executable, "-c", LOADER, str(Path(__file__).parent), url, TOKEN, str(RATE), str(threads)]
        key_file = tmp_path / "signing-key.pem"
        key_file.write_bytes(sns_signing._key().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        self.args += [str(self.stop_file), json.dumps(message), str(key_file)]
        self.proc: subprocess.Popen[str] | None = None
        self.accepted, self.seconds = 0, 0.0

    def __enter__(self) -> Load:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.stop_file.touch()
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        accepted, seconds = out.split()
        self.accepted, self.seconds = int(accepted), float(seconds)

    def running(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.proc.communicate()[1]
        return True

    def rate(self) -> float:
        return self.accepted / self.seconds


def test_cli_acks_and_closes_succeed_under_inbound_load(tmp_path: Path) -> None:
    config = sns_config(tmp_path, '\n[users.erik]\ncontact = { email = "erik@example.com" }\n')
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
        inbound_before = len(db.inbound())
        with Load(daemon.url, tmp_path) as load:
            wait_until(
                lambda: load.running() and len(db.inbound()) >= inbound_before + RATE // 2,
                timeout=60,
                what="the load to start",
            )
            during = len(db.inbound())
            for action in ("ack", "close"):
                for alert_id in ids:
                    assert time.monotonic() < deadline, "the CLI calls took longer than 60 s"
                    # Each call after a commit of the daemon's: interleaved however fast the CLI is.
                    seen = len(db.inbound())
                    wait_until(lambda n=seen: load.running() and len(db.inbound()) > n, timeout=30, what="a commit")
                    result = runner.invoke(group, ["-c", str(config), action, str(alert_id), "--user", "erik"], obj=pm)
                    results.append((action, alert_id, result.exit_code, result.output))
            # The daemon's commits that the CLI's transactions had to share the database with
            # (counted, not timed: a loaded machine sends fewer per second, and that is fine).
            committed_meanwhile = len(db.inbound()) - during
        rate = load.rate()
    failures = [r for r in results if r[2] != 0]
    print(
        f"{len(results)} CLI calls under {rate:.0f} accepted messages/s "
        f"({committed_meanwhile} committed meanwhile): {len(failures)} failed"
    )
    assert not failures, failures[:3]
    assert len(results) == CLI_CALLS
    assert committed_meanwhile >= CLI_CALLS, f"the load was too light to mean anything: {committed_meanwhile}"
    statuses = {a["id"]: a["status"] for a in db.alerts()}
    assert all(statuses[i] == "closed" for i in ids)


# The racers are separate processes (each its own connections, as on a real machine), forked
# from one parent that imported everything once: the first CLI calls really meet on the fresh
# database, without paying ~1 s of imports per racer. Per round the parent waits for the test's
# start file, forks RACERS children that each say they are ready and wait for the go file, then
# run ``alertd ARGS`` (``cli.main``) with stdout/stderr in files, and reports their exit codes.
RACERS = 6
ROUNDS = 3
RACER = """
import json, os, sys, time, traceback
from pathlib import Path
import alertd.cli, alertd.integrations, alertd.store.schema
alertd.cli.build_cli()  # imports the plugins: the racers inherit them (it touches no database)
work, rounds, racers, args = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def wait_for(path):
    while not path.exists():
        time.sleep(0.001)
def race(round_, i):
    out = os.open(work / f"out-{round_}-{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(work / f"err-{round_}-{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    (work / f"ready-{round_}-{i}").touch()
    wait_for(work / f"go-{round_}")
    sys.argv = ["alertd", *args]
    code = 1
    try:
        alertd.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
for round_ in range(rounds):
    wait_for(work / f"start-{round_}")
    children = []
    for i in range(racers):
        pid = os.fork()
        if pid == 0:
            race(round_, i)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    (work / "codes.tmp").write_text(json.dumps(codes))
    (work / "codes.tmp").rename(work / f"codes-{round_}")
"""


def test_simultaneous_first_cli_calls_on_a_fresh_database(tmp_path: Path) -> None:
    # An integration without a configured token: the first call stores a generated one.
    config = sns_config(tmp_path, '\n[integrations.generated]\ntype = "aws_sns"\n')
    work = tmp_path / "race"
    work.mkdir()
    args = [str(work), str(ROUNDS), str(RACERS), "-c", str(config), "integrations"]
    parent = subprocess.Popen([sys.executable, "-c", RACER, *args], stderr=subprocess.PIPE, text=True)
    try:
        for round_ in range(ROUNDS):
            (tmp_path / "alertd.db").unlink(missing_ok=True)
            (work / f"start-{round_}").touch()
            ready = [work / f"ready-{round_}-{i}" for i in range(RACERS)]
            wait_until(lambda ready=ready: all(r.exists() for r in ready), timeout=60, what="the racers to be ready")
            (work / f"go-{round_}").touch()
            codes_file = work / f"codes-{round_}"
            wait_until(lambda f=codes_file: f.exists() or parent.poll() is not None, timeout=60, what="the racers")
            assert codes_file.exists(), parent.communicate()[1]
            codes = json.loads(codes_file.read_text())
            errors = [(work / f"err-{round_}-{i}").read_text() for i in range(RACERS)]
            assert codes == [0] * RACERS, (round_, errors)
            urls = {(work / f"out-{round_}-{i}").read_text() for i in range(RACERS)}
            assert len(urls) == 1 and urls != {""}, "every call must see the same generated token"
        assert parent.wait(timeout=30) == 0, parent.communicate()[1]
    finally:
        parent.kill()
        parent.wait()


def test_a_real_busy_timeout_is_one_line(tmp_path: Path) -> None:

    config = sns_config(tmp_path, '\n[integrations.generated]\ntype = "aws_sns"\n')
    config.write_text(config.read_text().replace("[store]\n", "[store]\nbusy_timeout_seconds = 0.5\n"))
    assert run_cli_in_process("-c", str(config), "alerts").returncode == 0  # creates the database
    holder = sqlite3.connect(tmp_path / "alertd.db")
    holder.execute("BEGIN IMMEDIATE")  # another process keeps the write lock
    try:
        started = time.monotonic()
        result = run_cli_in_process("-c", str(config), "integrations")  # stores a generated token: a write
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("alertd: database is busy"), result.stderr
    assert waited >= 0.5  # it waited for the lock before giving up
