"""SMS/voice replies on a real database: who may act on which alert, and what a bare ACK means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alertd import alerts, outbox, replies
from alertd.config import build_config
from alertd.mapping import Decision
from alertd.store.schema import migrate
from postgres import connect

# Each test on SQLite and on PostgreSQL (tests/postgres.py).
pytestmark = pytest.mark.usefixtures("each_backend")

T0 = 1_800_000_000.0
ALICE = "+15550000001"
BOB = "+15550000002"


def setup(tmp_path: Path) -> tuple[Any, Any]:
    config = build_config(
        tmp_path / "a.toml",
        {"users": {"alice": {"contact": {"sms": ALICE}}, "bob": {"contact": {"sms": "+1 (555) 000-0002"}}}},
        None,
    )
    db = connect(tmp_path / "r.db")
    migrate(db)
    return db, config


def page(db: Any, source: str, user: str, status: str = "sent") -> int:
    """An open alert and one SMS page of it to ``user`` in ``status``."""
    with db.atomic():
        alert_id, _ = alerts.open_alert(db, "i", None, Decision("open", "Mapped Open", source_id=source), None, T0)
        outbox.enqueue(
            db,
            alert_id=alert_id,
            user=user,
            kind="sms",
            address=ALICE if user == "alice" else BOB,
            purpose="alert",
            step="0:0",
            key=f"alert:{alert_id}:0:0:{user}:sms",
            not_before=T0,
            now=T0,
        )
        db.execute("UPDATE outbox SET status = ? WHERE alert_id = ?", [status, alert_id])
    return alert_id


def reply(db: Any, config: Any, sender: str, text: str) -> str:
    with db.atomic():
        # As the Twilio plugin asks: phone numbers, listed under sms or voice.
        return replies.handle_reply(
            db, config.raw, "sms", sender, text, T0 + 60, kinds=("sms", "voice"), normalize=replies.phone_number
        )


def status(db: Any, alert_id: int) -> str:
    return alerts.get(db, alert_id)["status"]  # type: ignore[index]


def test_only_who_was_paged_may_act_on_an_alert(tmp_path: Path) -> None:
    db, config = setup(tmp_path)
    bobs = page(db, "s1", "bob")
    assert reply(db, config, ALICE, f"ACK {bobs}") == f"You were not paged for alert #{bobs}."
    assert status(db, bobs) == "open"
    assert reply(db, config, "+1 555 000 0002", f"ack #{bobs}").startswith(f"Acknowledged #{bobs}")
    assert status(db, bobs) == "acknowledged"


def test_bare_ack_takes_the_newest_open_alert_and_bare_close_the_newest_not_closed(tmp_path: Path) -> None:
    db, config = setup(tmp_path)
    older = page(db, "s1", "alice")
    newer = page(db, "s2", "alice")
    page(db, "s3", "alice", status="failed")  # never reached her: not what she answers
    page(db, "s4", "alice", status="pending")
    page(db, "s5", "bob")  # someone else's
    with db.atomic():
        alerts.acknowledge(db, newer, "alice", "test", T0 + 1)
    # ACK skips the acknowledged newer alert; CLOSE takes it.
    assert reply(db, config, ALICE, "ack").startswith(f"Acknowledged #{older}")
    assert reply(db, config, ALICE, "close").startswith(f"Closed #{newer}")
    assert reply(db, config, ALICE, "close").startswith(f"Closed #{older}")
    assert reply(db, config, ALICE, "ack").startswith("You have no open alert to act on.")


def test_unknown_sender_and_unknown_words(tmp_path: Path) -> None:
    db, config = setup(tmp_path)
    alert_id = page(db, "s1", "alice")
    assert reply(db, config, "+15559999999", f"ACK {alert_id}") == "This number is not known to alertd."
    assert reply(db, config, ALICE, "hello") == replies.HELP
    assert status(db, alert_id) == "open"


def test_the_channel_says_where_a_senders_address_is_listed_and_how_it_compares(tmp_path: Path) -> None:
    # No kind is special to the core: a pager channel's replies compare as phone numbers because
    # its plugin says so, and an SMS matches a voice-only contact only when the channel says so.
    config = build_config(
        tmp_path / "a.toml",
        {"users": {"carol": {"contact": {"beep": "+1 (555) 000-0003"}}, "dave": {"contact": {"voice": BOB}}}},
        None,
    )
    db = connect(tmp_path / "r.db")
    migrate(db)
    with db.atomic():
        alert_id, _ = alerts.open_alert(db, "i", None, Decision("open", "Mapped Open", source_id="s"), None, T0)
        for user, kind in (("carol", "beep"), ("dave", "voice")):
            outbox.enqueue(
                db,
                alert_id=alert_id,
                user=user,
                kind=kind,
                address="x",
                purpose="alert",
                step="0:0",
                key=f"k:{user}",
                not_before=T0,
                now=T0,
            )
        db.execute("UPDATE outbox SET status = 'sent'")
        answer = replies.handle_reply(db, config.raw, "beep", "+15550000003", "ack", T0, normalize=replies.phone_number)
        assert answer.startswith(f"Acknowledged #{alert_id}")
        assert replies.handle_reply(db, config.raw, "sms", BOB, "close", T0) == "This number is not known to alertd."
        answer = replies.handle_reply(db, config.raw, "sms", BOB, "close", T0, kinds=("sms", "voice"))
        assert answer.startswith(f"Closed #{alert_id}")
