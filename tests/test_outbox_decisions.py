"""The outbox and escalation decisions on a real database (no daemon): idempotency keys,
cancellation, retries, failover and provider reports. Each test pins a rule that a one-line
change would break without any other test noticing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alertd import apply, escalation, outbox
from alertd.channels import DeliveryResult, DeliveryState
from alertd.config import build_config
from alertd.mapping import Decision
from alertd.plugins import make_manager
from alertd.store.schema import migrate
from postgres import connect

# Each test on SQLite and on PostgreSQL (tests/postgres.py).
pytestmark = pytest.mark.usefixtures("each_backend")

T0 = 1_800_000_000.0
PEOPLE = {
    "users": {
        "a": {
            "contact": {"email": "a@x", "sms": "+15550000001", "voice": "+15550000001"},
            "notify": [{"method": "sms"}, {"method": "email", "after_minutes": 5}, {"method": "voice"}],
        },
        "b": {"contact": {"email": "b@x"}},
    },
}


def setup(
    tmp_path: Path, policy: dict[str, Any], outbox_cfg: dict[str, Any] | None = None, pm: Any = None
) -> tuple[Any, Any, int]:
    data: dict[str, Any] = {**PEOPLE, "escalation_policies": {"p": policy}}
    if outbox_cfg:
        data["outbox"] = outbox_cfg
    config = build_config(tmp_path / "a.toml", data, pm)
    db = connect(tmp_path / "o.db")
    migrate(db)
    with db.atomic():
        alert_id = apply.open_alert(db, "i", "p", Decision("open", "Mapped Open", source_id="s", title="t"), None, T0)
    return db, config, alert_id


def fire(db: Any, config: Any, now: float) -> int:
    with db.atomic():
        return escalation.fire_due(db, config, now)[1]


def rows(db: Any, alert_id: int) -> list[dict[str, Any]]:
    return outbox.for_alert(db, alert_id)


def test_the_same_user_on_two_levels_and_two_passes_is_paged_each_time(tmp_path: Path) -> None:
    """The idempotency key holds pass and level: no two steps collapse into one notification."""
    db, config, alert_id = setup(
        tmp_path, {"repeat": 1, "levels": [{"users": ["b"], "delay_minutes": 1}, {"users": ["b"], "delay_minutes": 1}]}
    )
    for minute in range(4):
        assert fire(db, config, T0 + minute * 60) == 1
    keys = [r["step"] for r in rows(db, alert_id)]
    assert keys == ["0:0", "0:1", "1:0", "1:1"]
    stored = [r[0] for r in db.execute("SELECT idempotency_key FROM outbox WHERE alert_id = ? ORDER BY id", [alert_id])]
    assert stored == [f"alert:{alert_id}:{step}:b:email" for step in keys]


def test_each_contact_rule_is_queued_at_its_own_time(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["a"]}]})
    assert fire(db, config, T0) == 3
    due = {r["kind"]: r["next_attempt_at"] for r in rows(db, alert_id)}
    assert due == {"sms": T0, "email": T0 + 300, "voice": T0}


def claim(db: Any, now: float, limit: int = 100) -> list[dict[str, Any]]:
    with db.atomic():
        return outbox.claim_due(db, now, limit)


def test_claim_takes_only_what_is_due_and_marks_it_sending(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["a"]}]})
    fire(db, config, T0)
    first = claim(db, T0)
    assert sorted(r["kind"] for r in first) == ["sms", "voice"] and all(r["attempts"] == 1 for r in first)
    assert claim(db, T0 + 100) == []  # email is due at +300; the others are taken
    db.execute("UPDATE outbox SET updated_at = ? WHERE status = 'sending'", [T0 + 299])  # (not stuck)
    assert [r["kind"] for r in claim(db, T0 + 300)] == ["email"]
    assert {r["status"] for r in rows(db, alert_id)} == {"sending"}


def test_claim_cancels_pages_for_an_alert_that_is_no_longer_open(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["a"]}]})
    fire(db, config, T0)
    db.execute("UPDATE alerts SET status = 'acknowledged' WHERE id = ?", [alert_id])
    assert claim(db, T0 + 600) == []
    assert {(r["status"], r["last_error"]) for r in rows(db, alert_id)} == {("cancelled", "alert acknowledged")}


def test_stop_cancels_only_this_alerts_pending_pages(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["a"]}]})
    with db.atomic():
        other = apply.open_alert(db, "i", "p", Decision("open", "Mapped Open", source_id="s2", title="t"), None, T0)
    fire(db, config, T0)
    claim(db, T0)  # sms and voice of both alerts are out
    with db.atomic():
        apply.acknowledge(db, alert_id, "a", "test", T0 + 1)
    mine = {r["kind"]: r["status"] for r in rows(db, alert_id)}
    assert mine == {"sms": "sending", "voice": "sending", "email": "cancelled"}
    assert {r["status"] for r in rows(db, other)} == {"sending", "pending"}


def test_a_stuck_sending_row_is_retried_only_after_three_send_timeouts(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["b"]}]})
    fire(db, config, T0)
    claim(db, T0)
    limit = 3 * outbox.SEND_TIMEOUT_SECONDS
    assert claim(db, T0 + limit - 1) == []
    again = claim(db, T0 + limit + 1)
    assert [r["attempts"] for r in again] == [2]
    assert rows(db, alert_id)[0]["last_error"] == "result was not recorded"


def record(db: Any, config: Any, row: dict[str, Any], result: DeliveryResult, now: float, **kw: Any) -> list:
    with db.atomic():
        return outbox.record_result(db, config.raw, row, "ch", result, now, **kw)


def test_retry_until_max_attempts_then_fail_over_to_the_next_method(tmp_path: Path) -> None:
    db, config, alert_id = setup(
        tmp_path, {"levels": [{"users": ["a"]}]}, {"max_attempts": 2, "backoff_base_seconds": 10}
    )
    fire(db, config, T0)
    (sms,) = [r for r in claim(db, T0) if r["kind"] == "sms"]
    (retry,) = record(db, config, sms, DeliveryResult("retry", error="busy"), T0 + 1)
    row = next(r for r in rows(db, alert_id) if r["kind"] == "sms")
    assert row["status"] == "pending" and T0 + 1 + 5 <= row["next_attempt_at"] <= T0 + 1 + 10
    assert retry.kind == "notification_retry_scheduled"
    assert retry.detail == {
        "kind": "sms",
        "notification": row["id"],
        "attempt": 1,
        "next_attempt_at": row["next_attempt_at"],
        "error": "busy",
    }
    (sms,) = [r for r in claim(db, T0 + 20) if r["kind"] == "sms"]
    assert sms["attempts"] == 2
    events = record(db, config, sms, DeliveryResult("retry", error="busy"), T0 + 21)
    assert [e.kind for e in events] == ["notification_failed", "notification_failover"]
    assert events[1].detail == {"user": "a", "failed": "sms", "next": "email"}
    status = {r["kind"]: (r["status"], r["next_attempt_at"]) for r in rows(db, alert_id)}
    # the email (due in 5 minutes) is brought forward to now; the failed row is settled
    assert status["sms"] == ("failed", None) and status["email"] == ("pending", T0 + 21)


def test_retry_after_from_the_provider_wins_over_backoff(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["b"]}]})
    fire(db, config, T0)
    (row,) = claim(db, T0)
    record(db, config, row, DeliveryResult("retry", error="429", retry_after=120.0), T0 + 1)
    assert rows(db, alert_id)[0]["next_attempt_at"] == T0 + 121


def test_failover_skips_methods_already_used_and_ends_exhausted(tmp_path: Path) -> None:
    db, config, _ = setup(tmp_path, {"levels": [{"users": ["a"]}]}, {"max_attempts": 1})
    fire(db, config, T0)
    out = {r["kind"]: r for r in claim(db, T0)}
    record(db, config, out["sms"], DeliveryResult("sent"), T0 + 1)
    # voice fails: the method after voice in a's order is nothing -> exhausted
    events = record(db, config, out["voice"], DeliveryResult("failed", error="no"), T0 + 2)
    assert [e.kind for e in events] == ["notification_failed", "notification_exhausted"]


def test_a_sent_result_settles_only_a_row_still_sending(tmp_path: Path) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["b"]}]})
    fire(db, config, T0)
    (row,) = claim(db, T0)
    db.execute("UPDATE outbox SET status = 'delivered' WHERE id = ?", [row["id"]])  # a report came first
    record(db, config, row, DeliveryResult("sent", provider_id="p1"), T0 + 1)
    assert rows(db, alert_id)[0]["status"] == "delivered"


@pytest.mark.parametrize(
    ("report", "expected"),
    [(DeliveryState.DELIVERED, "delivered"), (DeliveryState.FAILED, "failed"), (DeliveryState.UNANSWERED, "failed")],
)
def test_provider_reports_settle_the_row_they_name(tmp_path: Path, report: DeliveryState, expected: str) -> None:
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["b"]}]}, {"max_attempts": 1})
    fire(db, config, T0)
    (row,) = claim(db, T0)
    record(db, config, row, DeliveryResult("sent", provider_id="SM1"), T0 + 1)
    with db.atomic():
        # a report for another provider id changes nothing
        outbox.record_delivery_status(db, config.raw, "ch", "SM2", report, None, T0 + 2)
    assert rows(db, alert_id)[0]["status"] == "sent"
    with db.atomic():
        outbox.record_delivery_status(db, config.raw, "ch", "SM1", report, None, T0 + 3)
    assert rows(db, alert_id)[0]["status"] == expected
    with db.atomic():  # a final state is final
        outbox.record_delivery_status(db, config.raw, "ch", "SM1", DeliveryState.DELIVERED, None, T0 + 4)
    assert rows(db, alert_id)[0]["status"] == expected


def test_closure_notices_go_to_who_was_reached_but_not_by_voice(tmp_path: Path) -> None:
    # The installed plugins: twilio_voice, the only channel declaring voice, says closure_notices = False.
    db, config, alert_id = setup(tmp_path, {"levels": [{"users": ["a"]}]}, {"max_attempts": 1}, make_manager())
    assert not config.sends_closure_notices("voice") and config.sends_closure_notices("sms")
    fire(db, config, T0)
    out = {r["kind"]: r for r in claim(db, T0)}
    record(db, config, out["sms"], DeliveryResult("sent"), T0 + 1)
    record(db, config, out["voice"], DeliveryResult("sent"), T0 + 1)
    (email,) = claim(db, T0 + 300)
    record(db, config, email, DeliveryResult("failed", error="bounced"), T0 + 301)  # never reached by email
    with db.atomic():
        apply.close(db, alert_id, "x", "test", T0 + 302)
        assert outbox.enqueue_closure_notices(db, config, alert_id, T0 + 303) == 1
        assert outbox.enqueue_closure_notices(db, config, alert_id, T0 + 304) == 0  # once
    closed = [r for r in rows(db, alert_id) if r["purpose"] == "closed"]
    assert [(r["user"], r["kind"]) for r in closed] == [("a", "sms")]


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 5, 10), (2, 10, 20), (3, 20, 40), (9, 30, 60)])
def test_backoff_bounds(attempt: int, low: float, high: float) -> None:
    assert outbox.backoff_seconds(attempt, 10, 60, rand=lambda: 0.0) == low
    assert outbox.backoff_seconds(attempt, 10, 60, rand=lambda: 1.0) == high


def test_a_providers_raw_word_is_refused_not_ignored(tmp_path: Path) -> None:
    # The core knows no provider's words: a plugin must translate them into a DeliveryState.
    db, config, _alert_id = setup(tmp_path, {"levels": [{"users": ["b"]}]})
    with pytest.raises(TypeError, match="DeliveryState"):
        outbox.record_delivery_status(db, config.raw, "ch", "SM1", "undelivered", None, T0)  # type: ignore[arg-type]
