"""Delivery is at-least-once: a kill between the provider's accept and the commit of the result.

The webhook peer below SIGKILLs the daemon while it holds the request, so the send reached
the receiver but its result was never recorded: exactly the window a crash test hit at random.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from alertd import apply, escalation, outbox
from alertd.config import build_config
from alertd.mapping import Decision
from alertd.store import connect as sqlite_connect
from alertd.store.schema import MIGRATIONS, migrate
from channel_fixtures import HttpPeer, Recorded, Reply
from helpers import DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from postgres import connect
from sns_signing import notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


def webhook_daemon(tmp_path: Path, peer: HttpPeer) -> tuple[DaemonProcess, Db]:
    extra = f"""
[channels.webhook]
timeout = 5

[users.alice]
contact = {{ webhook = "{peer.url}/alice" }}

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]
delay_minutes = 60
"""
    config = sns_config(tmp_path, extra, alarms='escalation_policy = "ops"')
    return DaemonProcess(config), Db(tmp_path / "alertd.db")


class KillOnFirstRequest:
    """Answers 200, but SIGKILLs the daemon before answering the first request."""

    def __init__(self) -> None:
        self.daemon: DaemonProcess | None = None
        self.killed = threading.Event()

    def __call__(self, request: Recorded) -> Reply:
        if not self.killed.is_set():
            assert self.daemon is not None
            self.daemon.kill()
            self.killed.set()
        return Reply(200, b"ok")


def open_alarm(daemon: DaemonProcess, db: Db) -> int:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    assert post_envelope(daemon, notification(message)).status_code == 200
    return db.inbound()[-1]["alert_id"]


def test_a_send_cut_off_by_a_kill_is_sent_again_with_the_same_key(tmp_path: Path) -> None:
    killer = KillOnFirstRequest()
    with HttpPeer(responder=killer) as peer:
        daemon, db = webhook_daemon(tmp_path, peer)
        killer.daemon = daemon
        daemon.start()
        try:
            alert_id = open_alarm(daemon, db)
            assert killer.killed.wait(20), "the page never reached the receiver"
            assert db.rows("SELECT status FROM outbox WHERE alert_id = ?", (alert_id,))[0]["status"] == "sending"
            daemon.start()
            wait_until(
                lambda: db.rows("SELECT status FROM outbox WHERE alert_id = ?", (alert_id,))[0]["status"] == "sent",
                what="the resend to be recorded",
            )
            first, second = peer.requests
            assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
            row = db.rows("SELECT * FROM outbox WHERE alert_id = ?", (alert_id,))[0]
            assert row["attempts"] == 2 and row["in_doubt"] == 1
        finally:
            daemon.kill()


def test_a_delivered_send_cut_off_by_a_kill_never_reads_cancelled(tmp_path: Path) -> None:
    """Delivered, killed before the result committed, acknowledged while down: after the
    restart the row must not claim that nothing went out."""
    killer = KillOnFirstRequest()
    with HttpPeer(responder=killer) as peer:
        daemon, db = webhook_daemon(tmp_path, peer)
        killer.daemon = daemon
        daemon.start()
        try:
            alert_id = open_alarm(daemon, db)
            assert killer.killed.wait(20), "the page never reached the receiver"
            result = run_cli_in_process("ack", str(alert_id), "--user", "alice", "-c", str(daemon.config))
            assert result.returncode == 0, result.stderr
            daemon.start()
            settled = wait_until(
                lambda: [
                    r
                    for r in db.rows("SELECT * FROM outbox WHERE alert_id = ?", (alert_id,))
                    if r["status"] not in ("pending", "sending")
                ],
                what="the interrupted row to settle",
            )
            (row,) = settled
            assert row["status"] == "unknown", row
            assert "may have arrived" in row["last_error"]
            assert len(peer.requests) == 1  # acknowledged: not paged again
            shown = run_cli_in_process("alerts", "show", str(alert_id), "-c", str(daemon.config))
            assert shown.returncode == 0, shown.stderr
        finally:
            daemon.kill()


# --- the same decisions on the database, without a daemon ------------------------------------

PEOPLE = {"users": {"a": {"contact": {"email": "a@x", "sms": "+15550000000"}}}}


def _setup(tmp_path: Path) -> tuple[object, object, int]:
    config = build_config(
        tmp_path / "a.toml", {**PEOPLE, "escalation_policies": {"p": {"levels": [{"users": ["a"]}]}}}, None
    )
    db = connect(tmp_path / "e.db")
    migrate(db)
    with db.atomic():
        alert_id = apply.open_alert(db, "i", "p", Decision("open", "Mapped Open", source_id="s", title="t"), None, 0)
        escalation.fire_due(db, config, 0.0)
    return db, config, alert_id


def test_closing_after_a_restart_marks_interrupted_rows_unknown_and_others_cancelled(tmp_path: Path) -> None:
    db, _config, alert_id = _setup(tmp_path)
    with db.atomic():
        claimed = outbox.claim_due(db, 1.0, limit=1)  # the email went 'sending'; the sms stays pending
    assert [r["kind"] for r in claimed] == ["email"]
    with db.atomic():
        assert outbox.requeue_interrupted(db, 2.0) == 1  # the crash
        apply.close(db, alert_id, "a", "test", 3.0)
    status = {r["kind"]: r["status"] for r in outbox.for_alert(db, alert_id)}
    assert status == {"email": "unknown", "sms": "cancelled"}


def test_claim_of_an_interrupted_row_for_a_closed_alert_reads_unknown(tmp_path: Path) -> None:
    db, _config, alert_id = _setup(tmp_path)
    with db.atomic():
        outbox.claim_due(db, 1.0)
        # the alert closed while the sends were in flight, then the process died
        db.execute("UPDATE alerts SET status = 'closed' WHERE id = ?", [alert_id])
        outbox.requeue_interrupted(db, 2.0)
        assert outbox.claim_due(db, 3.0) == []
    assert {r["status"] for r in outbox.for_alert(db, alert_id)} == {"unknown"}


def test_closure_notice_reaches_who_may_have_been_paged(tmp_path: Path) -> None:
    db, config, alert_id = _setup(tmp_path)
    with db.atomic():
        outbox.claim_due(db, 1.0)
        outbox.requeue_interrupted(db, 2.0)
        apply.close(db, alert_id, "a", "test", 3.0)
        assert outbox.enqueue_closure_notices(db, config, alert_id, 4.0) == 2


def test_migration_keeps_outbox_rows_indexes_and_references(tmp_path: Path) -> None:
    db = sqlite_connect(tmp_path / "m.db")  # SQLite's migration (sqlite_master, PRAGMA): SQLite only
    migrate(db, target=len(MIGRATIONS) - 1)
    db.execute(
        "INSERT INTO alerts (id, integration, source_id, status, title, description, severity, tags, fields, "
        "created_at, updated_at) VALUES (1, 'i', 's', 'open', 't', '', 'critical', '[]', '{}', 0, 0)"
    )
    for i, failover in [(2, None), (1, 2)]:  # row 1 refers to a later row, as failover() may write
        db.execute(
            "INSERT INTO outbox (id, alert_id, user, kind, address, purpose, step, idempotency_key, status, "
            "created_at, updated_at, failover_of) "
            "VALUES (?, 1, 'a', 'email', 'a@x', 'alert', '0:0', ?, 'sent', 0, 0, ?)",
            [i, f"k{i}", failover],
        )
    db.conn.commit()
    before = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'outbox'").fetchall()}
    migrate(db)
    after = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'outbox'").fetchall()}
    assert before == after
    rows = db.execute("SELECT id, status, failover_of, in_doubt FROM outbox ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(1, "sent", 2, 0), (2, "sent", None, 0)]
    db.execute("UPDATE outbox SET status = 'unknown' WHERE id = 1")
    try:
        db.execute("UPDATE outbox SET status = 'bogus' WHERE id = 1")
        raise AssertionError("the status CHECK was lost")
    except sqlite3.IntegrityError:
        pass
    assert db.execute("PRAGMA foreign_key_check(outbox)").fetchall() == []
