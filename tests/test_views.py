"""Item 20: the CLI's tables keep within 100 columns whatever the data."""

from __future__ import annotations

from datetime import UTC

from alertd.views import alerts_table, inbound_table, match_outcome


def test_alert_table_fits_with_long_names() -> None:
    row = {
        "id": 123456,
        "status": "acknowledged",
        "severity": "critical-and-then-some",
        "created_at": 1_700_000_000.0,
        "integration": "a-very-long-integration-name-indeed",
        "acknowledged_by": "someone-with-a-long-user-name",
        "title": "T" * 300,
        "append_count": 12345,
    }
    lines = alerts_table([row], UTC, 1_700_090_000.0)
    assert all(len(line) <= 100 for line in lines), lines
    assert "1d" in lines[1] and lines[1].rstrip().endswith("…")


def test_inbound_table_fits_and_says_unknown_url() -> None:
    row = {
        "id": 9,
        "received_at": 1_700_000_000.0,
        "integration": None,
        "status": 404,
        "outcome": "Rejected",
        "alert_id": None,
        "reason": "unknown integration URL " + "x" * 200,
        "message_type": None,
    }
    lines = inbound_table([row], UTC, 1_700_000_001.0)
    assert all(len(line) <= 100 for line in lines), lines
    assert "(unknown URL)" in lines[1] and " - " not in lines[1]


def test_empty_listings_say_so() -> None:
    assert alerts_table([], UTC, 0.0) == ["no alerts"]
    assert inbound_table([], UTC, 0.0) == ["no inbound messages"]


def test_match_outcome() -> None:
    known = ["Mapped Open", "Duplicate Delivery", "Rejected"]
    assert match_outcome("duplicate_delivery", known) == "Duplicate Delivery"
    assert match_outcome(" REJECTED ", known) == "Rejected"
    try:
        match_outcome("nope", known)
    except ValueError as exc:
        assert str(exc) == "unknown outcome 'nope'; expected one of: Duplicate Delivery, Mapped Open, Rejected"
    else:
        raise AssertionError("an unknown outcome must be refused")


def test_short_messages_show_the_time_in_the_recipients_zone() -> None:
    """ntfy and Apprise bodies (Notification.detail_lines): the recipient's clock, with the zone named."""
    from channel_fixtures import make_notification

    # 1767600000 is 2026-01-05 08:00:00 UTC.
    lines = make_notification(timezone="America/New_York").detail_lines()
    assert "Opened: 2026-01-05 03:00:00 EST (America/New_York)" in lines
    assert "Opened: 2026-01-05 08:00:00 UTC" in make_notification().detail_lines()
    hostile = make_notification(alert={"fields": {"name": "x\x1b[2Jy"}}).detail_lines()
    assert "name: x\\x1b[2Jy" in hostile
