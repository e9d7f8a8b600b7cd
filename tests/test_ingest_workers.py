"""Ingest worker processes (``[server] ingest_processes``): /in/ requests answered by a child
process exactly as in-process (alertd.ingest_worker, alertd.ingest_pool), with real SNS
signatures, a real page, kill -9 of the worker under load and of the daemon, and a reload.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from fake_aws import start_fake_sns
from helpers import DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import TOKEN, Db, alarm_notification, post_envelope, sns_config
from sns_signing import DEFAULT_TOPIC, headers_for, subscription_confirmation
from test_crash_safety import Sender
from test_escalation import escalation_daemon, sends
from test_sns_subscription import AUTO_TOKEN, EXTRA, confirm_route, wait_state

WORKERS = "ingest_processes = 1"


def with_workers(config: Path, count: int = 1) -> None:
    text = config.read_text()
    config.write_text(text.replace("graceful_timeout = 3\n", f"graceful_timeout = 3\ningest_processes = {count}\n", 1))


def worker_pid(daemon: DaemonProcess, start: int = 0) -> int:
    """The pid of the worker that said hello (in this run's lines from ``start``)."""
    line = daemon.wait_for("event=ingest.worker_started", timeout=30, start=start)
    return int(line.split("pid=", 1)[1].split()[0])


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def _line(daemon: DaemonProcess, pid: int, text: str, start: int) -> str:
    def found() -> str | None:
        return next((x for x in daemon.lines[start:] if text in x and f"ingest_worker={pid}" in x), None)

    return wait_until(found, what=f"{text!r} from worker {pid}")


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL ([store] url): the worker opens its own
def test_alarm_pages_and_duplicate_ok_rejections_behave_as_in_process(tmp_path: Path) -> None:
    daemon, sent, db = escalation_daemon(tmp_path)
    with_workers(daemon.config)
    daemon.config.write_text(daemon.config.read_text().replace('level = "info"', 'level = "debug"'))
    with daemon:
        pid = worker_pid(daemon)
        alarm = alarm_notification("WorkerAlarm")
        assert post_envelope(daemon, alarm).status_code == 200
        opened = db.inbound()[-1]
        assert opened["outcome"] == "Mapped Open" and opened["alert_id"]
        # The worker recorded it; the page went out from the daemon's escalation and delivery.
        _line(daemon, pid, f"event=inbound.recorded inbound_id={opened['id']}", 0)
        wait_until(lambda: [s for s in sends(sent) if s["alert_id"] == opened["alert_id"]], what="the page")
        # The accepted summary line and /metrics are the daemon's, counting the worker's messages.
        daemon.wait_for("event=inbound.accepted integration=alarms")
        assert post_envelope(daemon, alarm).status_code == 200
        assert db.inbound()[-1]["outcome"] == "Duplicate Delivery"
        assert post_envelope(daemon, alarm_notification("WorkerAlarm", "OK")).status_code == 200
        assert (db.inbound()[-1]["outcome"], db.inbound()[-1]["alert_id"]) == ("Mapped Closed", opened["alert_id"])
        text = daemon.get("/metrics").text
        for outcome in ("Mapped Open", "Duplicate Delivery", "Mapped Closed"):
            assert f'alertd_inbound_messages_total{{integration="alarms",outcome="{outcome}"}} 1.0' in text
        with_worker = rejections(daemon, db)
        for _status, _reason, row in with_worker:
            _line(daemon, pid, f"event=inbound.rejected inbound_id={row['id']} ", 0)
    daemon.config.write_text(daemon.config.read_text().replace("ingest_processes = 1\n", ""))
    with daemon:
        in_process = rejections(daemon, db)
        assert not any("ingest_worker=" in x for x in daemon.lines)
    assert [(s, r) for s, r, _ in with_worker] == [(s, r) for s, r, _ in in_process]
    keys = ("outcome", "status", "reason", "integration", "method", "body_size")
    assert [{k: row[k] for k in keys} for *_, row in with_worker] == [
        {k: row[k] for k in keys} for *_, row in in_process
    ]


def rejections(daemon: DaemonProcess, db: Db) -> list[tuple[int, str, dict]]:
    """Bad requests of each kind: (status, reply, its inbound-log row)."""
    forged = alarm_notification("Forged")
    forged["Message"] = forged["Message"].replace("ALARM", "OK")
    cases = [
        ("post", {"content": b"not json"}),
        ("get", {}),
        ("post", {"content": json.dumps(forged).encode(), "headers": headers_for(forged)}),
        ("post", {"content": b"x" * (300 * 1024)}),
    ]
    out = []
    for method, kwargs in cases:
        response = httpx.request(method.upper(), f"{daemon.url}/in/{TOKEN}", timeout=30, **kwargs)  # type: ignore[arg-type]
        out.append((response.status_code, response.text, db.inbound()[-1]))
    assert [s for s, *_ in out] == [400, 405, 403, 413]
    return out


@pytest.fixture(scope="module")
def subscription_env(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("worker-subs")
    fake = start_fake_sns(tmp / "tls")
    config = sns_config(tmp, EXTRA, server=WORKERS)
    daemon = DaemonProcess(config, env=fake.env())
    with daemon:
        yield daemon, fake, Db(tmp / "alertd.db")
    fake.stop()


def test_subscription_confirmation_is_confirmed_by_a_worker(subscription_env) -> None:
    daemon, fake, db = subscription_env
    pid = worker_pid(daemon)
    envelope = subscription_confirmation()
    path = confirm_route(fake, envelope)
    assert post_envelope(daemon, envelope, token=AUTO_TOKEN).status_code == 200
    row = wait_state(db, "auto", "confirmed")
    assert json.loads(row["detail"])["subscription_arn"].startswith(DEFAULT_TOPIC)
    assert ("sns.us-east-1.amazonaws.com", path) in fake.requests
    _line(daemon, pid, "event=sns.confirmed integration=auto", 0)  # the worker ran the plugin's after_commit
    assert db.inbound()[-1]["outcome"] == "Subscription Confirmation"


def test_worker_killed_under_load_loses_no_answered_message_and_comes_back(tmp_path: Path) -> None:
    daemon, _sent, db = escalation_daemon(tmp_path)
    with_workers(daemon.config)
    with daemon:
        pid = worker_pid(daemon)
        sender = Sender(daemon.url, seed=11)
        sender.start()
        try:
            wait_until(lambda: len(sender.accepted) >= 30, what="load through the worker")
            mark = len(daemon.lines)
            os.kill(pid, signal.SIGKILL)
            daemon.wait_for("event=ingest.worker_exited", start=mark)
            again = worker_pid(daemon, start=mark)
            assert again != pid
            count = len(sender.accepted)
            wait_until(lambda: len(sender.accepted) >= count + 30, what="load through the new worker")
        finally:
            sender.stop_new.set()
            assert sender.done.wait(60), "the sender never drained its retries"
        rows = db.rows("SELECT * FROM inbound_log WHERE accepted = 1 ORDER BY id")
        accepted_ids = Counter(r["source_message_id"] for r in rows)
        assert set(sender.accepted) <= set(accepted_ids)  # every 2xx is committed
        assert max(accepted_ids.values()) == 1  # a retry of a committed message is a duplicate
        assert daemon.proc is not None and daemon.proc.poll() is None
    assert gone(again)


def test_kill_9_of_the_daemon_leaves_no_worker(tmp_path: Path) -> None:
    config = sns_config(tmp_path, server=WORKERS)
    daemon = DaemonProcess(config).start()
    try:
        pid = worker_pid(daemon)
        assert not gone(pid)
    finally:
        daemon.kill()
    wait_until(lambda: gone(pid), timeout=10, what="the worker to exit with its parent")


def test_sighup_reload_restarts_the_workers_with_the_new_config(tmp_path: Path) -> None:
    config = sns_config(tmp_path, server=WORKERS)
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config) as daemon:
        pid = worker_pid(daemon)
        assert post_envelope(daemon, alarm_notification("BeforeReload")).status_code == 200
        # The new config accepts another topic only: the old worker would accept the message.
        config.write_text(config.read_text().replace(DEFAULT_TOPIC, DEFAULT_TOPIC + "-other", 1))
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        again = worker_pid(daemon, start=mark)
        assert again != pid
        wait_until(lambda: gone(pid), timeout=15, what="the old worker to exit")
        response = post_envelope(daemon, alarm_notification("AfterReload"))
        assert response.status_code == 403 and "topic_arns" in response.text
        _line(daemon, again, f"event=inbound.rejected inbound_id={db.inbound()[-1]['id']} ", mark)


@pytest.mark.parametrize("value", ["-1", "9", '"two"'])
def test_ingest_processes_bounds(tmp_path: Path, value: str) -> None:
    config = sns_config(tmp_path, server=f"ingest_processes = {value}")
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "server.ingest_processes" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_daemon_stop_stops_the_workers(tmp_path: Path) -> None:
    config = sns_config(tmp_path, server=WORKERS)
    daemon = DaemonProcess(config).start()
    pid = worker_pid(daemon)
    started = time.monotonic()
    assert daemon.stop() == 0
    assert gone(pid) and time.monotonic() - started < 15


def test_without_a_live_worker_the_daemon_answers_itself(tmp_path: Path) -> None:
    """A worker that cannot start (here: a plugin that refuses to load in it) is retried with a
    growing delay, a warning each time; meanwhile /in/ is answered by the HTTP process."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "refuse_in_worker.py").write_text(
        'import sys\n\nif "ingest_worker" in sys.argv[0]:\n    raise RuntimeError("not in a worker")\n'
    )
    config = sns_config(tmp_path, server=WORKERS)
    config.write_text(f'plugins_dir = "{plugins}"\n' + config.read_text())
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config) as daemon:
        first = daemon.wait_for("event=ingest.worker_exited", timeout=30)
        assert "exit_code=2 restart_in=0.5" in first
        assert post_envelope(daemon, alarm_notification("NoWorker")).status_code == 200
        assert db.inbound()[-1]["outcome"] == "Mapped Open"
        wait_until(lambda: sum("event=ingest.worker_exited" in x for x in daemon.lines) >= 2, what="a second try")
        second = [x for x in daemon.lines if "event=ingest.worker_exited" in x][1]
        assert "restart_in=1.0" in second
        assert "plugin file" in daemon.wait_for("event=ingest.worker_start_failed")
        assert not any("ingest.worker_started" in x for x in daemon.lines)


GARBLE = """
import sys

if "ingest_worker" in sys.argv[0]:
    ingest_worker = sys.modules["__main__"]  # (python -m alertd.ingest_worker)

    real_send = ingest_worker.Worker.send

    def send(self, message):
        if {kind!r} == "hello" and message[0] == 0:
            message = (0,)
        elif {kind!r} == "reply" and message[0] != 0:
            message = (message[0], "not", "a", "reply")
        real_send(self, message)

    ingest_worker.Worker.send = send
"""


@pytest.mark.parametrize("kind", ["hello", "reply"])
def test_a_worker_sending_malformed_frames_is_killed_and_the_daemon_stays_up(tmp_path: Path, kind: str) -> None:
    """A confused worker (here: a plugin that garbles what it sends) costs its requests a 503 at
    most, never the HTTP process: the frame is refused, the worker killed and started again."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "garble_in_worker.py").write_text(GARBLE.format(kind=kind))
    config = sns_config(tmp_path, server=WORKERS)
    config.write_text(f'plugins_dir = "{plugins}"\n' + config.read_text())
    with DaemonProcess(config) as daemon:
        if kind == "reply":
            worker_pid(daemon)
            response = post_envelope(daemon, alarm_notification("Garbled"))
            assert response.status_code == 503, response.text
        refused = daemon.wait_for("event=ingest.bad_frame", timeout=30)
        assert ("a malformed hello" if kind == "hello" else "a reply of 4 values") in refused
        daemon.wait_for("event=ingest.worker_exited", timeout=30)
        assert daemon.proc is not None and daemon.proc.poll() is None  # the daemon serves on
        if kind == "hello":  # no worker said hello: the daemon answers itself
            assert post_envelope(daemon, alarm_notification("NoHello")).status_code == 200


def test_a_worker_restarted_after_an_edit_not_reloaded_does_not_run_the_edit(tmp_path: Path) -> None:
    """The file edited but not reloaded (not in force), then a worker dies: the new worker must
    not run the edited file (another topic accepted here). It refuses to start, the daemon answers
    with the config in force; the reload (SIGHUP) brings workers back, on the new file."""
    config = sns_config(tmp_path, server=WORKERS)
    with DaemonProcess(config) as daemon:
        pid = worker_pid(daemon)
        config.write_text(config.read_text().replace(DEFAULT_TOPIC, DEFAULT_TOPIC + "-other", 1))
        mark = len(daemon.lines)
        os.kill(pid, signal.SIGKILL)
        refused = daemon.wait_for("event=ingest.worker_start_failed", timeout=30, start=mark)
        assert "changed since the daemon loaded it" in refused
        assert post_envelope(daemon, alarm_notification("NotReloaded")).status_code == 200  # old topics
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        worker_pid(daemon, start=mark)
        response = post_envelope(daemon, alarm_notification("Reloaded"))
        assert response.status_code == 403 and "topic_arns" in response.text


def test_a_worker_parses_its_config_file_once_and_keeps_no_parse(tmp_path: Path, monkeypatch) -> None:
    # The read for plugins_dir keeps its parse for validation to take: parsed once, and nothing
    # of it stays held for the worker's life (a 600 KB file is some megabytes parsed).
    from alertd.config import reading
    from alertd.ingest_worker import load_config_for_worker
    from alertd.plugins import make_manager

    config = sns_config(tmp_path)
    parses: list[Path] = []
    real = reading.parse_source

    def counted(path: Path, source: bytes):  # type: ignore[no-untyped-def]
        parses.append(path)
        return real(path, source)

    monkeypatch.setattr(reading, "parse_source", counted)
    loaded = load_config_for_worker(config, config.read_bytes(), make_manager())
    assert "alarms" in loaded.integrations
    assert len(parses) == 1
    assert reading._kept is None
