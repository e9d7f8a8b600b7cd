"""Crash safety under load: SIGKILL the daemon at random moments while a sender keeps posting
(and, like SNS, retries what was not answered 2xx), then check what survived.

- every message answered 2xx is in the inbound log, accepted exactly once;
- the decisions replay: an independent model of open/append/close over the accepted
  messages, in log order, gives the same outcomes;
- every open alert has its escalation plan and it resumed (steps fired after the last kill);
- no notification reached the channel twice unless its row was claimed twice (a kill between
  the provider's accept and our commit), every row recorded 'sent' really was sent, and no
  notification that reached the channel reads 'cancelled' (at-least-once: README).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from channel_fixtures import HttpPeer
from helpers import DaemonProcess, wait_until
from inbound_fixtures import TOKEN, Db, sample_message
from sns_signing import headers_for, notification
from test_escalation import escalation_daemon, sends

ROUNDS = 3
ALARMS = [f"Crash{i}" for i in range(12)]
STATES = ["ALARM"] * 6 + ["OK"] * 3 + ["INSUFFICIENT_DATA"]


class Sender(threading.Thread):
    def __init__(self, url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.rng = random.Random(seed)
        self.stop_new = threading.Event()
        self.done = threading.Event()
        self.pending: list[tuple[dict, str, str]] = []
        self.accepted: dict[str, tuple[str, str]] = {}  # message id -> (alarm, state)
        self.failures = 0
        template, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
        self.template = template

    def envelope(self) -> tuple[dict, str, str]:
        alarm, state = self.rng.choice(ALARMS), self.rng.choice(STATES)
        message = self.template.replace("ConsoleSignInFailures", alarm).replace(
            '"NewStateValue": "ALARM"', f'"NewStateValue": "{state}"'
        )
        return notification(message, message_id=str(uuid.uuid4())), alarm, state

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not (self.stop_new.is_set() and not self.pending):
                if self.pending and (self.stop_new.is_set() or self.rng.random() < 0.5):
                    item = self.pending.pop(0)
                else:
                    item = self.envelope()
                envelope, alarm, state = item
                try:
                    response = client.post(
                        f"{self.url}/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.accepted[envelope["MessageId"]] = (alarm, state)
                else:
                    self.failures += 1
                    self.pending.append(item)  # SNS retries
                    time.sleep(0.05)
        self.done.set()


def test_sigkill_under_load(tmp_path: Path) -> None:
    daemon, sent, db = escalation_daemon(tmp_path)
    run_under_kills(daemon, db, lambda: [s["key"] for s in sends(sent)])


def test_sigkill_under_load_with_webhooks(tmp_path: Path) -> None:
    """The same through the webhook channel: a real HTTP round trip widens the window between
    the receiver's accept and our commit, so resends with the same Idempotency-Key do happen."""
    with HttpPeer() as peer:
        daemon, _sent, db = escalation_daemon(tmp_path)
        text = daemon.config.read_text()
        for user in ("alice", "bob"):
            text = text.replace(
                f'contact = {{ email = "{user}@example.com" }}', f'contact = {{ webhook = "{peer.url}/{user}" }}'
            )
        daemon.config.write_text(text + "\n[channels.webhook]\ntimeout = 5\n")
        run_under_kills(daemon, db, lambda: [r.headers["idempotency-key"] for r in list(peer.requests)])


def run_under_kills(daemon: DaemonProcess, db: Db, delivered_keys: Callable[[], list[str]]) -> None:
    daemon.start()
    rng = random.Random(20261124)
    sender = Sender(daemon.url, seed=7)
    sender.start()
    try:
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.5, 1.5))
            daemon.kill()
            time.sleep(rng.uniform(0.1, 0.6))
            daemon.start()
            sender.url = daemon.url
        time.sleep(1.0)
        last_start = time.time()
        sender.stop_new.set()
        assert sender.done.wait(60), "the sender never drained its retries"
        assert len(sender.accepted) > 50 and sender.failures > 0

        # (1) every 2xx is logged and accepted exactly once
        rows = db.rows("SELECT * FROM inbound_log WHERE accepted = 1 ORDER BY id")
        accepted_ids = Counter(r["source_message_id"] for r in rows)
        assert set(sender.accepted) <= set(accepted_ids)
        assert max(accepted_ids.values()) == 1

        # (2) the decisions replay
        open_alarms: set[str] = set()
        for row in rows:
            alarm, state = sender.accepted.get(row["source_message_id"], (None, None))
            if alarm is None:  # accepted but the sender never saw the 2xx (killed mid-answer): still one row
                continue
            if state == "ALARM":
                expected = "Mapped Appended" if alarm in open_alarms else "Mapped Open"
                open_alarms.add(alarm)
            else:
                expected = "Mapped Closed" if alarm in open_alarms else "Unmapped"
                open_alarms.discard(alarm)
            assert row["outcome"] == expected, (row["id"], alarm, state)
        live = {a["title"].split(":")[0] for a in db.alerts() if a["status"] != "closed"}
        assert live == open_alarms

        # (3) every open alert's escalation resumed after the last restart
        def resumed() -> bool:
            for alert in db.alerts():
                if alert["status"] == "closed":
                    continue
                plan = db.rows("SELECT * FROM escalations WHERE alert_id = ?", (alert["id"],))
                if not plan or plan[0]["state"] not in ("active", "finished"):
                    return False
                fired = db.rows(
                    "SELECT MAX(at) AS t FROM alert_events WHERE alert_id = ? AND kind = 'escalated'", (alert["id"],)
                )[0]["t"]
                if plan[0]["state"] == "active" and (fired is None or fired < last_start - 2):
                    return False
            return True

        wait_until(resumed, timeout=20, what="every open alert's escalation to fire again")

        # (4) nothing sent twice unless claimed twice; nothing recorded 'sent' that was not sent
        wait_until(
            lambda: not db.rows("SELECT 1 FROM outbox WHERE status IN ('sending')"),
            timeout=20,
            what="in-flight sends to settle",
        )
        keys = Counter(delivered_keys())
        outbox = {r["idempotency_key"]: r for r in db.rows("SELECT * FROM outbox")}
        for key, count in keys.items():
            if count > 1:
                assert outbox[key]["attempts"] >= count, (key, count, outbox[key])
        for key, row in outbox.items():
            if row["status"] == "sent":
                assert key in keys
            if key in keys:  # it reached the channel: never reads as if nothing went out
                assert row["status"] != "cancelled", row
        print(
            f"\naccepted={len(sender.accepted)} retried={sender.failures} inbound_rows={len(db.inbound())} "
            f"alerts={len(db.alerts())} notifications={len(outbox)} resent_after_kill="
            f"{sum(c - 1 for c in keys.values())} unknown={sum(r['status'] == 'unknown' for r in outbox.values())}"
        )
    finally:
        sender.stop_new.set()
        daemon.kill()
