"""``/metrics`` with two ``alertd run`` processes on one database (prometheus_client's counters
are per process, so these are real processes, not tests/inprocess.py's daemons in one process).

Each instance counts what it did itself; the alert events only where they are dispatched (the
holder of the ``dispatch`` lock), and ``alertd_cluster_lock_held`` says which one that is. So the
sum over the instances is the cluster's figure, before and after the lock moves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import DaemonProcess, wait_until
from inbound_fixtures import TOKEN, Db, alarm_notification, sns_config
from sns_signing import headers_for

DISPATCH = 'alertd_cluster_lock_held{lock="dispatch"}'
OPENED = 'alertd_alert_events_total{kind="opened"}'
ACCEPTED = 'alertd_inbound_messages_total{integration="alarms",outcome="Mapped Open"}'


def metric(daemon: DaemonProcess, series: str) -> float | None:
    """The value of one series on ``daemon``'s /metrics (None: not there)."""
    for line in daemon.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return None


def open_alarm(daemon: DaemonProcess, name: str) -> None:
    envelope = alarm_notification(name)
    response = daemon.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200, response.text


def test_event_counters_come_from_the_dispatching_instance_which_says_so(tmp_path: Path) -> None:
    config = sns_config(tmp_path)
    # One file for both: port 0, each gets its own (read from its log).
    text = re.sub(r'listen = "127\.0\.0\.1:\d+"', 'listen = "127.0.0.1:0"', config.read_text())
    config.write_text("[cluster]\nlease_seconds = 5\n" + text)
    db = Db(tmp_path / "alertd.db")
    a, b = DaemonProcess(config), DaemonProcess(config)
    try:
        a.start()
        wait_until(lambda: metric(a, DISPATCH) == 1, what="a holds the dispatch lock")
        b.start()
        wait_until(lambda: len(db.rows("SELECT id FROM instances")) == 2, what="b registered")
        assert metric(b, DISPATCH) == 0
        for i, daemon in enumerate((a, b, b)):
            open_alarm(daemon, f"first-{i}")
        # Inbound messages: each instance counts those it received.
        assert (metric(a, ACCEPTED), metric(b, ACCEPTED)) == (1, 2)
        # Alert events: all three on the dispatcher, none on the other.
        wait_until(lambda: metric(a, OPENED) == 3, what="a counts every opened event")
        assert metric(b, OPENED) is None and metric(b, DISPATCH) == 0 and metric(a, DISPATCH) == 1

        assert a.stop() == 0  # a clean stop: its lock goes at once (cursor saved), b takes it over
        wait_until(lambda: metric(b, DISPATCH) == 1, what="b holds the dispatch lock")
        open_alarm(b, "second")
        wait_until(lambda: metric(b, OPENED) == 1, what="b counts the event it dispatched")
        # The sum over the instances is the cluster's: 3 counted on a, 1 on b.
        assert len(db.rows("SELECT id FROM alert_events WHERE kind = 'opened'")) == 3 + 1
        assert b.stop() == 0
    finally:
        a.kill()
        b.kill()
