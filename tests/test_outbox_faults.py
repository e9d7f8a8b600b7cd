"""The outbox against failing peers: 500s, timeouts, refused connections for a while, and a
peer that never answers. Every notification is delivered or failed over; none is lost, none
is accepted twice by its peer. The daemon runs in-process (tests/inprocess.py): the peers are
real, the waits are the real backoff."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections import Counter
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from channel_fixtures import HttpPeer, Recorded, Reply
from helpers import free_port
from inbound_fixtures import TOKEN, Db, sample_message, sns_config
from inprocess import in_process
from sns_signing import headers_for, notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


class Mailbox:
    def __init__(self) -> None:
        self.to: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.to.append(str(message["To"]))
        return "250 OK"


async def test_retries_backoff_and_failover(tmp_path) -> None:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def responder(request: Recorded) -> Reply:
        with lock:
            seen[request.path] += 1
            n = seen[request.path]
        if request.path == "/alice" and n <= 3:
            return Reply(500, b"busy")  # three 500s, then fine
        if request.path == "/carol" and n == 1:
            return Reply(200, b"too late", delay=3)  # longer than the channel's timeout
        return Reply(200, b"ok", headers={"X-Request-Id": f"req-{request.path}-{n}"})

    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    late_port = free_port()  # dave's peer only starts listening after a while
    with HttpPeer(responder=responder) as peer:
        users = "".join(
            f"""
[users.{name}]
contact = {{ webhook = "{url}", email = "{name}@example.com" }}
notify = [{{ method = "webhook" }}, {{ method = "email", after_minutes = 30 }}]
"""
            for name, url in [
                ("alice", f"{peer.url}/alice"),
                ("bob", f"http://127.0.0.1:{free_port()}/bob"),
                ("carol", f"{peer.url}/carol"),
                ("dave", f"http://127.0.0.1:{late_port}/dave"),
            ]
        )
        extra = f"""
[outbox]
max_attempts = 6
backoff_base_seconds = 0.3
backoff_max_seconds = 1

[channels.webhook]
timeout = 1

[channels.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from_address = "alertd@example.com"
{users}
[escalation_policies.all]
[[escalation_policies.all.levels]]
users = ["alice", "bob", "carol", "dave"]
"""
        config = sns_config(tmp_path, extra, alarms='escalation_policy = "all"')
        async with in_process(config) as app:
            db = Db(tmp_path / "alertd.db")
            message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
            envelope = notification(message)
            response = await app.post(
                f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
            )
            assert response.status_code == 200
            # dave's peer starts listening only after his first attempt was refused
            await app.wait_until(
                lambda: db.rows(
                    "SELECT 1 FROM outbox WHERE user = 'dave' AND kind = 'webhook' AND attempts >= 1 "
                    "AND status = 'pending' AND last_error IS NOT NULL"
                ),
                what="dave's first refused attempt",
            )
            with HttpPeer(port=late_port, responder=responder) as late_peer:

                def settled() -> bool:
                    rows = db.rows("SELECT user, kind, status FROM outbox")
                    webhook = {r["user"]: r["status"] for r in rows if r["kind"] == "webhook"}
                    # The mail server has the message before the daemon records the send: wait for both.
                    bob_email = [r["status"] for r in rows if r["user"] == "bob" and r["kind"] == "email"]
                    return (
                        webhook == {"alice": "sent", "bob": "failed", "carol": "sent", "dave": "sent"}
                        and "bob@example.com" in mailbox.to
                        and bob_email == ["sent"]
                    )

                # Each poll wakes the loops (the clock does not move): a retry is due 0.3-1 s after
                # its failure, and the delivery loop, not woken by the retry it scheduled, would
                # otherwise look again only after runtime.MAX_IDLE_SECONDS (2 s) each time.
                def settled_waking() -> bool:
                    for loop in list(app.runtime.wakeups):
                        app.runtime.wake(loop)
                    return settled()

                await app.wait_until(
                    settled_waking, timeout=30, what="every webhook to settle and bob's failover email"
                )
            rows = {(r["user"], r["kind"]): r for r in db.rows("SELECT * FROM outbox")}
            assert rows[("alice", "webhook")]["attempts"] == 4
            assert rows[("carol", "webhook")]["attempts"] == 2
            assert (
                rows[("bob", "webhook")]["attempts"] == 6 and "ConnectError" in rows[("bob", "webhook")]["last_error"]
            )
            assert rows[("dave", "webhook")]["attempts"] >= 2
            # bob's email was brought forward by the failure (it was due in 30 minutes) and sent once.
            assert rows[("bob", "email")]["status"] == "sent" and rows[("bob", "email")]["failover_of"] is not None
            assert mailbox.to.count("bob@example.com") == 1
            # The others' emails still wait for their 30 minutes.
            for user in ("alice", "carol", "dave"):
                assert rows[(user, "email")]["status"] == "pending"
            # Each peer accepted each notification once (the 500s and the timed-out answer did not count),
            # and every attempt carried the same idempotency key.
            for path, user in (("/alice", "alice"), ("/carol", "carol"), ("/dave", "dave")):
                attempts = [r for r in peer.requests + late_peer.requests if r.path == path]
                keys = {r.headers["idempotency-key"] for r in attempts}
                assert keys == {rows[(user, "webhook")]["idempotency_key"]}
            alert_id = db.alerts()[-1]["id"]
            kinds = [e["kind"] for e in db.rows("SELECT kind FROM alert_events WHERE alert_id = ?", (alert_id,))]
            assert "notification_failed" in kinds and "notification_failover" in kinds
            detail = [
                json.loads(e["detail"])
                for e in db.rows("SELECT detail FROM alert_events WHERE kind = 'notification_failover'")
            ]
            assert detail == [{"user": "bob", "failed": "webhook", "next": "email"}]
    smtp.stop()
