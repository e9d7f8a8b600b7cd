"""Item 20: the timeline in words is a pure function of the stored events."""

from __future__ import annotations

from typing import Any

from alertd.timeline_words import describe


def ev(kind: str, actor: str = "escalation", via: str = "engine", /, **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "actor": actor, "via": via, "at": 0.0, "detail": detail}


def test_a_whole_story_reads_as_sentences() -> None:
    events = [
        ev("reopened", "alarms", "source", inbound_id=7, previous_alert_id=3, title="x"),
        ev("escalated", level=0, pass_number=0, users=["erik", "bob"], via={"erik": "schedule:secops", "bob": "user"}),
        ev("notified", "erik", "smtp", kind="email", purpose="alert", step="0:0", notification=1),
        ev("notification_failed", "bob", "twilio_sms", kind="sms", attempts=3, error="HTTP 500"),
        ev("notification_failover", "outbox", user="bob", failed="sms", next="voice"),
        ev("notification_exhausted", "outbox", user="bob", reason="no contact method left"),
        ev("appended", "alarms", "source", inbound_id=8),
        ev("appended", "alarms", "source", inbound_id=9),
        ev("level_skipped", level=1, pass_number=1, reason="nobody to notify"),
        ev("ack_repeated", "erik", "sms"),
        ev("acknowledged", "alarms", "rule", inbound_id=10),
        ev("closed", "erik", "link"),
        ev("notified", "erik", "smtp", kind="email", purpose="closed", step="closed"),
        ev("escalation_stopped", reason="policy 'old' no longer exists"),
        ev("paused", "erik", "api", minutes=30),
    ]
    assert [sentence for _event, sentence in describe(events)] == [
        "opened again from alarms, after #3 closed (inbound #7)",
        "escalated to level 1: erik (on call in secops), bob (named in the policy)",
        "paged erik by email (on call in secops)",
        "could not reach bob by sms after 3 attempts: HTTP 500",
        "trying bob by voice instead of sms",
        "gave up on bob: no contact method left",
        "fired again 2 times at alarms (inbound #8 to #9)",
        "skipped level 2 (repeat 1): nobody to notify",
        "acknowledged again by erik by SMS reply",
        "acknowledged by alarms (its source rule)",
        "closed by erik with a signed link",
        "told erik by email that it is closed",
        "escalation stopped: policy 'old' no longer exists",
        "paused by erik through the API (minutes 30)",
    ]


def test_one_repeat_is_not_a_run() -> None:
    [(_, sentence)] = describe([ev("appended", "alarms", "source", inbound_id=4)])
    assert sentence == "fired again at alarms (inbound #4)"
