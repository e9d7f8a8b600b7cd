"""Reply parsing (pure): what people type into an SMS."""

import pytest

from alertd.outbox import backoff_seconds
from alertd.replies import ReplyCommand, parse_reply, phone_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACK 42", ReplyCommand("ack", 42)),
        ("ack #42", ReplyCommand("ack", 42)),
        ("  Acknowledge 7 ", ReplyCommand("ack", 7)),
        ("ACK", ReplyCommand("ack", None)),
        ("close 42", ReplyCommand("close", 42)),
        ("Resolved 3", ReplyCommand("close", 3)),
        ("c", ReplyCommand("close", None)),
        ("hello", None),
        ("ACK 42 please", None),
        ("", None),
        ("42", None),
    ],
)
def test_parse_reply(text: str, expected: ReplyCommand | None) -> None:
    assert parse_reply(text) == expected


def test_phone_numbers_compare_by_digits() -> None:
    assert phone_number("+1 (555) 555-0101") == phone_number("+15555550101")


def test_backoff_grows_is_capped_and_jittered() -> None:
    assert [backoff_seconds(n, 5, 300, rand=lambda: 1.0) for n in (1, 2, 3, 10)] == [5, 10, 20, 300]
    assert backoff_seconds(3, 5, 300, rand=lambda: 0.0) == 10  # half of 20: the jitter's floor
