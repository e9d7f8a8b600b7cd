"""Storage faults: a full or locked database answers 503 (SNS retries), writes nothing half, and recovers.
The daemon runs in-process (tests/inprocess.py) except where SIGTERM is what is tested."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from helpers import DaemonProcess, wait_until
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import notification


def alarm(name: str, state: str = "ALARM", pad: int = 0) -> dict:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    message = message.replace("ConsoleSignInFailures", name).replace('"ALARM"', f'"{state}"')
    if pad:
        message = message.replace('"AlarmDescription": "', '"AlarmDescription": "' + "x" * pad)
    return notification(message, message_id=str(uuid.uuid4()))


def consistent(db: Db) -> None:
    """Every Mapped row has its alert change, and nothing else changed alerts."""
    for row in db.rows("SELECT * FROM inbound_log WHERE outcome LIKE 'Mapped%'"):
        assert row["alert_id"] is not None
    opened = db.rows("SELECT COUNT(*) AS n FROM inbound_log WHERE outcome = 'Mapped Open'")[0]["n"]
    assert opened == len(db.alerts())
    conn = sqlite3.connect(db.path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_disk_full_answers_503_and_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = sns_config(tmp_path)
    text = config.read_text()
    config.write_text(text.replace("[store]\n", "[store]\nmax_size_mb = 0.6\n"))
    with InProcessThread(config) as daemon:
        statuses = []
        for i in range(40):
            response = post_envelope(daemon, alarm(f"Full{i}", pad=60_000))
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert "storage unavailable" in response.text
                break
        assert statuses[-1] == 503 and statuses[0] == 200
        wait_until(lambda: any(r.getMessage() == "store.commit_failed" for r in caplog.records), what="the log")
        # Still serving: health is fine, small requests may still fit or 503, never 500.
        assert daemon.get("/healthz").status_code == 200
        assert post_envelope(daemon, alarm("Small")).status_code in (200, 503)
    consistent(Db(tmp_path / "alertd.db"))
    # Recovery is a config change and a restart: no manual repair.
    config.write_text(text)
    with InProcessThread(config) as daemon:
        envelope = alarm("AfterRecovery")
        assert post_envelope(daemon, envelope).status_code == 200
        assert post_envelope(daemon, envelope).status_code == 200  # SNS retry of the same id
    db = Db(tmp_path / "alertd.db")
    outcomes = [r["outcome"] for r in db.inbound()[-2:]]
    assert outcomes == ["Mapped Open", "Duplicate Delivery"]
    consistent(db)


def test_locked_database_answers_503_then_recovers(tmp_path: Path) -> None:
    config = sns_config(tmp_path)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nbusy_timeout_seconds = 1\n"))
    with InProcessThread(config) as daemon:
        locker = sqlite3.connect(tmp_path / "alertd.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        envelope = alarm("Locked")
        started = time.monotonic()
        response = post_envelope(daemon, envelope)
        assert response.status_code == 503 and "storage unavailable" in response.text
        assert time.monotonic() - started < 5
        locker.execute("COMMIT")
        locker.close()
        # SNS retries the same message: now it counts, once.
        assert post_envelope(daemon, envelope).status_code == 200
        db = Db(tmp_path / "alertd.db")
        rows = db.rows(
            "SELECT outcome, accepted FROM inbound_log WHERE source_message_id = ?", (envelope["MessageId"],)
        )
        assert rows == [{"outcome": "Mapped Open", "accepted": 1}]
        consistent(db)


def read_by_the_server(server_port: int, client_port: int) -> bool:
    """True once the server side of this connection has read every byte sent to it (its receive
    queue in /proc/net/tcp is empty): the request is in the daemon, not in the listen backlog
    or the socket buffer. Tied to one connection, unlike any count of the daemon's jobs."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, rx_queue = fields[1], fields[2], fields[4].split(":")[1]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return int(rx_queue, 16) == 0
    return False


def test_sigterm_lets_in_flight_requests_commit(tmp_path: Path) -> None:
    """A request still waiting for its commit when SIGTERM arrives is answered (2xx, committed)
    before the daemon exits 0."""
    import http.client
    import json
    import signal
    import threading

    from inbound_fixtures import TOKEN
    from sns_signing import headers_for

    config = sns_config(tmp_path)
    # The writer waits for the lock far longer than this test can take, even on a loaded machine.
    config.write_text(config.read_text().replace("[store]\n", "[store]\nbusy_timeout_seconds = 120\n"))
    with DaemonProcess(config) as daemon:
        locker = sqlite3.connect(tmp_path / "alertd.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # the request will wait in the writer
        envelope = alarm("InFlight")
        server_port = int(daemon.url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=60)
        connection.connect()
        client_port = connection.sock.getsockname()[1]
        connection.request("POST", f"/in/{TOKEN}", body=json.dumps(envelope).encode(), headers=headers_for(envelope))
        answer: dict[str, int] = {}
        reader = threading.Thread(target=lambda: answer.update(status=connection.getresponse().status))
        reader.start()
        # SIGTERM only once the daemon has this request (not while it may still be in the listen
        # backlog, where a stopping server would drop it); the locked database keeps it uncommitted.
        wait_until(lambda: read_by_the_server(server_port, client_port), what="the daemon to read the request")
        mark = len(daemon.lines)
        daemon.signal(signal.SIGTERM)
        daemon.wait_for("event=daemon.stopping", start=mark)
        assert not answer  # still waiting for its commit while the daemon stops
        locker.execute("COMMIT")
        locker.close()
        reader.join(10)
        connection.close()
        assert daemon.proc is not None and daemon.proc.wait(15) == 0
    assert answer == {"status": 200}
    rows = Db(tmp_path / "alertd.db").rows(
        "SELECT outcome FROM inbound_log WHERE source_message_id = ?", (envelope["MessageId"],)
    )
    assert rows == [{"outcome": "Mapped Open"}]
