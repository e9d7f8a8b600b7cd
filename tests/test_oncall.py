"""On-call computation: rotations, restrictions, layers, overrides, DST, iCalendar export."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertd.config import WEEKDAYS, ScheduleConfig
from alertd.oncall import PRODID, Shift, next_change, on_call_at, shifts_between, to_ical

H = timedelta(hours=1)
US = timedelta(microseconds=1)
WEEKDAYS_ONLY = ["mon", "tue", "wed", "thu", "fri"]


def sched(tz: str, layers: list[dict[str, Any]], overrides: list[dict[str, Any]] | None = None) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"timezone": tz, "layers": layers, "overrides": overrides or []})


def loc(tz: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold)  # type: ignore[misc]


def who(schedule: ScheduleConfig, at: datetime) -> str | None:
    shift = on_call_at(schedule, at)
    return None if shift is None else shift.user


def wall(at: datetime, tz: str) -> tuple[date, time]:
    local = at.astimezone(ZoneInfo(tz))
    return local.date(), local.time()


# --- rotations ----------------------------------------------------------------


def test_weekly_rotation() -> None:
    tz = "Europe/Berlin"
    s = sched(tz, [{"users": ["a", "b", "c"], "shift": "1w", "handoff": "09:00", "start": "2026-01-05"}])
    assert who(s, loc(tz, 2026, 1, 5, 9)) == "a"
    assert who(s, loc(tz, 2026, 1, 12, 8, 59)) == "a"
    assert who(s, loc(tz, 2026, 1, 12, 9)) == "b"
    assert who(s, loc(tz, 2026, 1, 19, 9)) == "c"
    assert who(s, loc(tz, 2026, 1, 26, 9)) == "a"
    shift = on_call_at(s, loc(tz, 2026, 1, 14, 3))
    assert shift == Shift("b", loc(tz, 2026, 1, 12, 9), loc(tz, 2026, 1, 19, 9), "layer 0")
    assert shift.start.tzinfo is UTC and shift.end.tzinfo is UTC
    # Far from the start: 2027-06-07 is 74 weeks after 2026-01-05, 74 % 3 == 2.
    assert who(s, loc(tz, 2027, 6, 7, 12)) == "c"
    # The week containing the spring-forward Sunday is 167 real hours long.
    shift = on_call_at(s, loc(tz, 2026, 3, 28, 12))
    assert shift is not None and shift.end - shift.start == timedelta(hours=167)
    assert wall(shift.end, tz) == (date(2026, 3, 30), time(9))


def test_daily_rotation_and_two_week_shifts() -> None:
    tz = "UTC"
    s = sched(tz, [{"name": "d", "users": ["a", "b"], "shift": "1d", "handoff": "18:30", "start": "2026-02-01"}])
    assert on_call_at(s, loc(tz, 2026, 2, 2, 10)) == Shift(
        "a", loc(tz, 2026, 2, 1, 18, 30), loc(tz, 2026, 2, 2, 18, 30), "layer 0 (d)"
    )
    assert who(s, loc(tz, 2026, 2, 2, 18, 30)) == "b"
    assert who(s, loc(tz, 2026, 2, 3, 18, 29, 59)) == "b"
    s = sched(tz, [{"users": ["x", "y"], "shift": "2w", "handoff": "00:00", "start": "2026-01-01"}])
    assert who(s, loc(tz, 2026, 1, 14, 23)) == "x"
    assert who(s, loc(tz, 2026, 1, 15)) == "y"
    assert who(s, loc(tz, 2026, 1, 29)) == "x"


def test_hour_rotation() -> None:
    tz = "Asia/Kolkata"
    s = sched(tz, [{"users": ["a", "b", "c"], "shift": "8h", "handoff": "06:00", "start": "2026-05-01"}])
    assert who(s, loc(tz, 2026, 5, 1, 13, 59)) == "a"
    assert who(s, loc(tz, 2026, 5, 1, 14)) == "b"
    assert who(s, loc(tz, 2026, 5, 1, 22)) == "c"
    assert who(s, loc(tz, 2026, 5, 2, 6)) == "a"
    assert who(s, loc(tz, 2026, 7, 1, 6)) == ["a", "b", "c"][(61 * 3) % 3]


def test_nobody_before_start_lower_layer_answers() -> None:
    tz = "America/New_York"
    new = {"name": "new", "users": ["n1", "n2"], "shift": "1d", "handoff": "09:00", "start": "2026-06-01"}
    s = sched(tz, [new])
    assert on_call_at(s, loc(tz, 2026, 6, 1, 8, 59)) is None
    assert on_call_at(s, loc(tz, 2025, 1, 1)) is None
    assert next_change(s, loc(tz, 2025, 1, 1)) == loc(tz, 2026, 6, 1, 9)
    assert who(s, loc(tz, 2026, 6, 1, 9)) == "n1"
    # A higher layer with a future start takes over only from its start.
    old = {"name": "old", "users": ["o"], "shift": "1w", "start": "2026-01-05"}
    s = sched(tz, [old, new])
    before = on_call_at(s, loc(tz, 2026, 5, 31, 12))
    assert before is not None and before.user == "o"
    assert before.source == "layer 0 (old)" and before.end == loc(tz, 2026, 6, 1, 9)
    assert who(s, loc(tz, 2026, 6, 1, 9)) == "n1"
    assert shifts_between(s, loc(tz, 2026, 6, 1), loc(tz, 2026, 6, 2)) == [
        Shift("o", loc(tz, 2026, 6, 1), loc(tz, 2026, 6, 1, 9), "layer 0 (old)"),
        Shift("n1", loc(tz, 2026, 6, 1, 9), loc(tz, 2026, 6, 2), "layer 1 (new)"),
    ]


def test_consecutive_shifts_of_one_user_are_one_answer() -> None:
    tz = "UTC"
    s = sched(tz, [{"users": ["a", "a", "b"], "shift": "1d", "handoff": "09:00", "start": "2026-01-01"}])
    assert on_call_at(s, loc(tz, 2026, 1, 2, 12)) == Shift(
        "a", loc(tz, 2026, 1, 1, 9), loc(tz, 2026, 1, 3, 9), "layer 0"
    )
    assert on_call_at(s, loc(tz, 2026, 1, 4, 12)) == Shift(
        "a", loc(tz, 2026, 1, 4, 9), loc(tz, 2026, 1, 6, 9), "layer 0"
    )
    # A single-user rotation reports its own shift boundaries; shifts_between merges them.
    s = sched(tz, [{"users": ["solo"], "shift": "1d", "handoff": "09:00", "start": "2026-01-01"}])
    assert on_call_at(s, loc(tz, 2026, 1, 2, 12)) == Shift(
        "solo", loc(tz, 2026, 1, 2, 9), loc(tz, 2026, 1, 3, 9), "layer 0"
    )
    assert shifts_between(s, loc(tz, 2026, 1, 2), loc(tz, 2026, 1, 9)) == [
        Shift("solo", loc(tz, 2026, 1, 2), loc(tz, 2026, 1, 9), "layer 0")
    ]


# --- restrictions ---------------------------------------------------------------


def test_business_hours_restriction() -> None:
    tz = "Europe/Berlin"
    biz = {"days": WEEKDAYS_ONLY, "start": "09:00", "end": "17:00"}
    s = sched(tz, [{"users": ["a", "b"], "shift": "1w", "start": "2026-01-05", "restrictions": [biz]}])
    assert on_call_at(s, loc(tz, 2026, 1, 5, 8, 59)) is None
    assert on_call_at(s, loc(tz, 2026, 1, 5, 12)) == Shift(
        "a", loc(tz, 2026, 1, 5, 9), loc(tz, 2026, 1, 5, 17), "layer 0"
    )
    assert on_call_at(s, loc(tz, 2026, 1, 5, 17)) is None
    assert on_call_at(s, loc(tz, 2026, 1, 10, 12)) is None  # Saturday
    assert next_change(s, loc(tz, 2026, 1, 9, 17)) == loc(tz, 2026, 1, 12, 9)  # Friday -> Monday
    assert who(s, loc(tz, 2026, 1, 12, 9)) == "b"
    pieces = shifts_between(s, loc(tz, 2026, 1, 5), loc(tz, 2026, 1, 12))
    assert [(p.user, p.start, p.end) for p in pieces] == [
        ("a", loc(tz, 2026, 1, d, 9), loc(tz, 2026, 1, d, 17)) for d in range(5, 10)
    ]


def test_overnight_restriction_wraps_past_midnight() -> None:
    tz = "America/New_York"
    night = {"days": ["fri"], "start": "22:00", "end": "06:00"}
    s = sched(tz, [{"users": ["owl"], "shift": "1w", "start": "2026-01-05", "restrictions": [night]}])
    assert who(s, loc(tz, 2026, 1, 9, 21, 59)) is None  # Friday
    assert who(s, loc(tz, 2026, 1, 9, 22)) == "owl"
    assert who(s, loc(tz, 2026, 1, 10, 5, 59)) == "owl"  # Saturday morning belongs to Friday's window
    assert who(s, loc(tz, 2026, 1, 10, 6)) is None
    assert who(s, loc(tz, 2026, 1, 10, 23)) is None  # Saturday night is not listed
    assert who(s, loc(tz, 2026, 1, 8, 23)) is None  # nor Thursday night
    every_night = {"start": "22:00", "end": "06:00"}
    s = sched(tz, [{"users": ["owl"], "shift": "1w", "start": "2026-01-05", "restrictions": [every_night]}])
    shift = on_call_at(s, loc(tz, 2026, 1, 7, 2))
    assert shift is not None and (shift.start, shift.end) == (loc(tz, 2026, 1, 6, 22), loc(tz, 2026, 1, 7, 6))
    # Across the spring-forward night the window is 7 real hours.
    shift = on_call_at(s, loc(tz, 2026, 3, 8, 1))
    assert shift is not None and shift.end - shift.start == 7 * H
    assert wall(shift.end, tz) == (date(2026, 3, 8), time(6))


def test_restriction_end_midnight_and_full_day_default() -> None:
    tz = "UTC"
    evening = {"start": "18:00", "end": "00:00"}
    s = sched(tz, [{"users": ["a"], "shift": "1w", "start": "2026-01-05", "restrictions": [evening]}])
    assert who(s, loc(tz, 2026, 1, 6, 23, 59)) == "a"
    assert who(s, loc(tz, 2026, 1, 7, 0)) is None
    assert who(s, loc(tz, 2026, 1, 7, 17, 59)) is None
    # The default restriction is the whole day; adjacent days merge into one answer.
    s = sched(
        tz,
        [
            {
                "users": ["a", "b"],
                "shift": "1w",
                "start": "2026-01-05",
                "restrictions": [{"days": ["sat", "sun"]}],
            }
        ],
    )
    shift = on_call_at(s, loc(tz, 2026, 1, 10, 12))
    assert shift == Shift("a", loc(tz, 2026, 1, 10), loc(tz, 2026, 1, 12), "layer 0")
    s = sched(tz, [{"users": ["a", "b"], "shift": "1w", "start": "2026-01-05", "restrictions": [{}]}])
    assert on_call_at(s, loc(tz, 2026, 1, 7)) == Shift("a", loc(tz, 2026, 1, 5, 9), loc(tz, 2026, 1, 12, 9), "layer 0")
    # A restriction listing no days never lets the layer on call.
    s = sched(tz, [{"users": ["a"], "restrictions": [{"days": []}]}])
    assert on_call_at(s, loc(tz, 2026, 3, 1)) is None
    assert next_change(s, loc(tz, 2026, 3, 1)) is None
    assert shifts_between(s, loc(tz, 2026, 3, 1), loc(tz, 2026, 4, 1)) == []


# --- layers and overrides -------------------------------------------------------


def three_layers(tz: str = "Europe/Berlin", overrides: list[dict[str, Any]] | None = None) -> ScheduleConfig:
    return sched(
        tz,
        [
            {
                "name": "base",
                "users": ["a", "b", "c"],
                "shift": "1w",
                "handoff": "10:00",
                "start": "2026-01-05",
            },
            {
                "name": "biz",
                "users": ["d", "e"],
                "shift": "1d",
                "handoff": "09:00",
                "start": "2026-01-05",
                "restrictions": [{"days": WEEKDAYS_ONLY, "start": "09:00", "end": "17:00"}],
            },
            {
                "name": "nights",
                "users": ["f", "g", "h"],
                "shift": "12h",
                "handoff": "21:00",
                "start": "2026-01-05",
                "restrictions": [{"start": "22:00", "end": "06:00"}],
            },
        ],
        overrides,
    )


def test_higher_layer_wins() -> None:
    tz = "Europe/Berlin"
    s = three_layers(tz)
    mon = (2026, 1, 12)
    assert on_call_at(s, loc(tz, *mon, 12)) == Shift("e", loc(tz, *mon, 9), loc(tz, *mon, 17), "layer 1 (biz)")
    # Monday 08:00: base layer, until the business-hours layer starts (before base's 10:00 handoff).
    assert on_call_at(s, loc(tz, *mon, 8)) == Shift("a", loc(tz, *mon, 6), loc(tz, *mon, 9), "layer 0 (base)")
    assert on_call_at(s, loc(tz, *mon, 17, 30)) == Shift("b", loc(tz, *mon, 17), loc(tz, *mon, 22), "layer 0 (base)")
    assert on_call_at(s, loc(tz, *mon, 23)) == Shift(
        "h", loc(tz, *mon, 22), loc(tz, 2026, 1, 13, 6), "layer 2 (nights)"
    )
    assert who(s, loc(tz, 2026, 1, 17, 12)) == "b"  # Saturday noon: base
    # An unrestricted top layer always wins.
    top = {"name": "top", "users": ["z"], "shift": "1d", "start": "2026-01-01"}
    s2 = sched(tz, [*[layer.model_dump() for layer in s.layers], top])
    assert {p.user for p in shifts_between(s2, loc(tz, 2026, 1, 5), loc(tz, 2026, 2, 5))} == {"z"}


def test_overrides_naive_aware_and_overlapping() -> None:
    tz = "America/New_York"
    s = three_layers(
        tz,
        [
            {
                "user": "x",
                "start": datetime(2026, 1, 14, 10),
                "end": datetime(2026, 1, 14, 20),
            },  # naive: local
            {
                "user": "y",
                "start": datetime(2026, 1, 14, 17, tzinfo=UTC),
                "end": datetime(2026, 1, 14, 18, tzinfo=UTC),
            },
            {
                "user": "w",
                "start": datetime(2026, 1, 14, 19),
                "end": datetime(2026, 1, 14, 18),
            },  # end before start
        ],
    )
    assert who(s, loc(tz, 2026, 1, 14, 9, 59)) == "e"
    assert on_call_at(s, loc(tz, 2026, 1, 14, 10)) == Shift(
        "x", loc(tz, 2026, 1, 14, 10), loc(tz, 2026, 1, 14, 12), "override 0"
    )
    # 17:00 UTC is 12:00 EST: the later override wins while it lasts.
    assert on_call_at(s, loc(tz, 2026, 1, 14, 12, 30)) == Shift(
        "y", loc(tz, 2026, 1, 14, 12), loc(tz, 2026, 1, 14, 13), "override 1"
    )
    assert on_call_at(s, loc(tz, 2026, 1, 14, 15)) == Shift(
        "x", loc(tz, 2026, 1, 14, 13), loc(tz, 2026, 1, 14, 20), "override 0"
    )
    assert who(s, loc(tz, 2026, 1, 14, 19)) == "x"  # the invalid override is ignored
    assert on_call_at(s, loc(tz, 2026, 1, 14, 20)) == Shift(
        "b", loc(tz, 2026, 1, 14, 20), loc(tz, 2026, 1, 14, 22), "layer 0 (base)"
    )
    assert next_change(s, loc(tz, 2026, 1, 14, 9)) == loc(tz, 2026, 1, 14, 10)
    assert [(p.user, p.source) for p in shifts_between(s, loc(tz, 2026, 1, 14, 9), loc(tz, 2026, 1, 14, 23))] == [
        ("e", "layer 1 (biz)"),
        ("x", "override 0"),
        ("y", "override 1"),
        ("x", "override 0"),
        ("b", "layer 0 (base)"),
        ("f", "layer 2 (nights)"),
    ]
    # Of overlapping overrides the one listed last wins, also when it covers the other entirely.
    s = three_layers(
        tz,
        [
            {"user": "p", "start": datetime(2026, 2, 1, 12), "end": datetime(2026, 2, 1, 14)},
            {"user": "q", "start": datetime(2026, 2, 1, 10), "end": datetime(2026, 2, 1, 16)},
        ],
    )
    assert shifts_between(s, loc(tz, 2026, 2, 1, 10), loc(tz, 2026, 2, 1, 16)) == [
        Shift("q", loc(tz, 2026, 2, 1, 10), loc(tz, 2026, 2, 1, 16), "override 1")
    ]


def test_naive_override_in_dst_gap_and_overlap() -> None:
    tz = "America/New_York"
    s = three_layers(
        tz,
        [
            {"user": "x", "start": datetime(2026, 3, 8, 2, 30), "end": datetime(2026, 3, 8, 5)},
            {"user": "y", "start": datetime(2026, 11, 1, 1, 30), "end": datetime(2026, 11, 1, 3)},
        ],
    )
    shift = on_call_at(s, datetime(2026, 3, 8, 8, tzinfo=UTC))
    assert shift is not None and shift.user == "x"
    assert shift.start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 02:30 does not exist: 03:30 EDT
    shift = on_call_at(s, datetime(2026, 11, 1, 7, tzinfo=UTC))
    assert shift is not None and shift.user == "y"
    assert shift.start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # first 01:30 (EDT)
    assert shift.end - shift.start == 2.5 * H


def test_inputs_must_be_aware() -> None:
    s = three_layers()
    with pytest.raises(ValueError, match="aware"):
        on_call_at(s, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        shifts_between(s, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2))
    assert shifts_between(s, loc("UTC", 2026, 1, 2), loc("UTC", 2026, 1, 1)) == []


# --- DST ---------------------------------------------------------------------------

# (zone, transition day, real length of the daily 09:00->09:00 shift ending that day, UTC offset change)
TRANSITIONS = [
    ("America/New_York", date(2026, 3, 8), 23),
    ("America/New_York", date(2026, 11, 1), 25),
    ("Europe/Berlin", date(2026, 3, 29), 23),
    ("Europe/Berlin", date(2026, 10, 25), 25),
    ("Australia/Sydney", date(2026, 4, 5), 25),
    ("Australia/Sydney", date(2026, 10, 4), 23),
]
SPRING_FORWARD = [(tz, day) for tz, day, hours in TRANSITIONS if hours == 23]
FALL_BACK = [(tz, day) for tz, day, hours in TRANSITIONS if hours == 25]


@pytest.mark.parametrize(("tz", "day", "hours"), TRANSITIONS)
def test_daily_handoff_stays_at_local_time(tz: str, day: date, hours: int) -> None:
    zone = ZoneInfo(tz)
    offsets = {datetime.combine(day + timedelta(days=d), time(12), zone).utcoffset() for d in (-1, 1)}
    assert len(offsets) == 2, "the fixture's date is not a transition"
    s = sched(tz, [{"users": ["a", "b", "c"], "shift": "1d", "handoff": "09:00", "start": "2026-01-01"}])
    lo = datetime.combine(day - timedelta(days=3), time(0), zone)
    pieces = shifts_between(s, lo, lo + timedelta(days=7))
    boundaries = [p.start for p in pieces[1:]]
    assert len(boundaries) == 7  # 09:00 on each of the 7 days
    for b in boundaries:
        assert b.astimezone(zone).time() == time(9)
    across = on_call_at(s, datetime.combine(day, time(4), zone))
    assert across is not None
    assert across.end - across.start == timedelta(hours=hours)
    assert wall(across.start, tz) == (day - timedelta(days=1), time(9))
    assert wall(across.end, tz) == (day, time(9))
    after = on_call_at(s, datetime.combine(day, time(12), zone))
    assert after is not None and after.end - after.start == 24 * H


@pytest.mark.parametrize(("tz", "day", "hours"), TRANSITIONS)
def test_twelve_hour_rotation_keeps_real_length(tz: str, day: date, hours: int) -> None:
    zone = ZoneInfo(tz)
    before = day - timedelta(days=1)
    s = sched(tz, [{"users": ["a", "b"], "shift": "12h", "handoff": "21:00", "start": before.isoformat()}])
    across = on_call_at(s, datetime.combine(day, time(4), zone))
    assert across is not None and across.user == "a"
    assert across.end - across.start == 12 * H
    assert wall(across.start, tz) == (before, time(21))
    # The next handoff is a wall-clock hour off: 10:00 after spring forward, 08:00 after fall back.
    assert wall(across.end, tz) == (day, time(10 if hours == 23 else 8))
    for piece in shifts_between(s, across.start, across.start + timedelta(days=5)):
        assert piece.end - piece.start == 12 * H


@pytest.mark.parametrize(("tz", "day"), SPRING_FORWARD)
def test_handoff_in_spring_forward_gap(tz: str, day: date) -> None:
    zone = ZoneInfo(tz)
    s = sched(tz, [{"users": ["a", "b"], "shift": "1d", "handoff": "02:30", "start": "2026-01-01"}])
    gap_handoff = datetime.combine(day, time(3, 30), zone)  # 02:30 does not exist: normalized forward
    assert gap_handoff.astimezone(zone).time() == time(3, 30)
    before = on_call_at(s, gap_handoff - US)
    after = on_call_at(s, gap_handoff)
    assert before is not None and after is not None
    assert before.user != after.user
    assert before.end == after.start == gap_handoff
    assert wall(before.start, tz) == (day - timedelta(days=1), time(2, 30))
    assert before.end - before.start == 24 * H  # 02:30 standard time to 03:30 summer time
    assert after.end - after.start == 23 * H  # back to 02:30 the next day
    assert wall(after.end, tz) == (day + timedelta(days=1), time(2, 30))
    # A layer that starts at the missing time starts at the normalized instant.
    s = sched(tz, [{"users": ["a", "b"], "shift": "1d", "handoff": "02:30", "start": day.isoformat()}])
    assert on_call_at(s, gap_handoff - US) is None
    assert on_call_at(s, gap_handoff) == Shift("a", gap_handoff, after.end, "layer 0")


@pytest.mark.parametrize(("tz", "day"), FALL_BACK)
def test_ambiguous_handoff_takes_first_occurrence(tz: str, day: date) -> None:
    zone = ZoneInfo(tz)
    # The repeated hour: 01:00-02:00 in New York, 02:00-03:00 in Berlin and Sydney.
    at = time(1, 30) if tz == "America/New_York" else time(2, 30)
    first = datetime.combine(day, at, zone)
    second = datetime.combine(day, at, zone).replace(fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == H
    s = sched(tz, [{"users": ["a", "b"], "shift": "1d", "handoff": at.isoformat(), "start": "2026-01-01"}])
    shift = on_call_at(s, first)
    assert shift is not None and shift.start == first.astimezone(UTC)
    assert shift.end - shift.start == 25 * H
    assert who(s, second) == shift.user


def test_restriction_window_boundaries_follow_local_time_across_dst() -> None:
    tz = "Australia/Sydney"
    biz = {"days": WEEKDAYS_ONLY, "start": "09:00", "end": "17:00"}
    s = sched(tz, [{"users": ["a"], "shift": "1w", "start": "2026-01-05", "restrictions": [biz]}])
    for day in (date(2026, 4, 2), date(2026, 4, 6), date(2026, 10, 2), date(2026, 10, 5)):
        shift = on_call_at(s, datetime.combine(day, time(12), ZoneInfo(tz)))
        assert shift is not None
        assert wall(shift.start, tz) == (day, time(9))
        assert wall(shift.end, tz) == (day, time(17))


# --- iCalendar ---------------------------------------------------------------------


def test_to_ical() -> None:
    tz = "Europe/Berlin"
    s = three_layers(tz, [{"user": "x", "start": datetime(2026, 1, 14, 10), "end": datetime(2026, 1, 14, 20)}])
    lo, hi = loc(tz, 2026, 1, 12, 12), loc(tz, 2026, 1, 19)
    data = to_ical("ops", s, lo, hi, {"b": "Bob Ross", "e": "Eve"})
    assert data == to_ical("ops", s, lo, hi, {"b": "Bob Ross", "e": "Eve"})  # pure, deterministic
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["PRODID"]) == PRODID and str(cal["VERSION"]) == "2.0"
    events = list(cal.walk("VEVENT"))
    shifts = shifts_between(s, lo, hi)
    assert len(events) == len(shifts) > 10
    for event, shift in zip(events, shifts, strict=True):
        # Shifts the window cuts are exported whole: their true handoffs, not the window's edges.
        first, last = shift is shifts[0], shift is shifts[-1]
        assert event.decoded("DTSTART") == (on_call_at(s, lo).start if first else shift.start)
        assert event.decoded("DTEND") == (on_call_at(s, hi - timedelta(microseconds=1)).end if last else shift.end)
        assert event["DTSTAMP"].dt == lo
    text = data.decode()
    assert "DTSTART:20260112T080000Z" in text  # e's shift began at the 09:00 handoff; UTC, no TZID
    assert "TZID" not in text
    summaries = [str(e["SUMMARY"]) for e in events]
    assert summaries[0] == "On call: Eve (ops)"
    assert "On call: Bob Ross (ops)" in summaries
    assert "On call: x (ops)" in summaries
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids)
    # Moving the window keeps the UIDs of the shifts, even of one clipped at the window start.
    later = icalendar.Calendar.from_ical(to_ical("ops", s, loc(tz, 2026, 1, 12, 13), hi))
    later_uids = [str(e["UID"]) for e in later.walk("VEVENT")]
    assert later_uids == uids
    other = icalendar.Calendar.from_ical(to_ical("other", s, lo, hi))
    assert not set(uids) & {str(e["UID"]) for e in other.walk("VEVENT")}


# --- efficiency ---------------------------------------------------------------------


def test_eight_weeks_of_three_layers_is_fast() -> None:
    s = three_layers("America/New_York")
    lo = loc("America/New_York", 2026, 2, 16)
    # The figure itself (~15 ms) is bench/scale.py's to measure; these bounds only tell a
    # computation from a walk (one year of these shifts walked takes ~0.1 s), with room for a
    # loaded 2-core machine.
    best = min(_timed(lambda: shifts_between(s, lo, lo + timedelta(weeks=8))) for _ in range(3))
    assert best < 0.5
    assert len(shifts_between(s, lo, lo + timedelta(weeks=8))) > 150
    # Far from the start, a single answer is as cheap as near it (arithmetic, no walking: a walk
    # over the 73 years since the start would take seconds).
    far = loc("America/New_York", 2099, 6, 1, 12)
    assert _timed(lambda: on_call_at(s, far)) < 0.5


def _timed(fn: Any) -> float:
    t0 = clock.perf_counter()
    fn()
    return clock.perf_counter() - t0


# --- properties ---------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Europe/London",
    "America/Santiago",  # transitions at midnight
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -03:30
    "Asia/Kolkata",
]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)


@lru_cache
def transitions(tz: str) -> list[datetime]:
    """Instants in 2026-2027 at which the zone's UTC offset changes."""
    zone = ZoneInfo(tz)
    out = []
    day = EPOCH
    while day < EPOCH + SPAN:
        nxt = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            lo, hi = day, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset():
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(second=0, microsecond=0))
        day = nxt
    return out


def test_transition_helper_knows_the_fixture_dates() -> None:
    days = {t.astimezone(ZoneInfo("Australia/Sydney")).date() for t in transitions("Australia/Sydney")}
    assert {date(2026, 4, 5), date(2026, 10, 4)} <= days
    assert transitions("Asia/Kolkata") == []


wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 0, 15, 30, 45]))
shift_lengths = st.one_of(
    st.integers(1, 48).map(lambda n: f"{n}h"),
    st.integers(1, 3).map(lambda n: f"{n}d"),
    st.integers(1, 2).map(lambda n: f"{n}w"),
)
restrictions = st.fixed_dictionaries(
    {
        "days": st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=7),
        "start": wall_times,
        "end": wall_times,
    }
)
users = st.lists(st.sampled_from(["ann", "bob", "cy", "dee", "eve"]), min_size=1, max_size=4)


def layers(restricted: bool = True, shifts: st.SearchStrategy[str] = shift_lengths) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "name": st.one_of(st.none(), st.sampled_from(["day", "night"])),
            "users": users,
            "shift": shifts,
            "handoff": wall_times,
            "start": st.dates(date(2025, 9, 1), date(2027, 9, 1)),
            "restrictions": st.lists(restrictions, max_size=3) if restricted else st.just([]),
        }
    )


@st.composite
def instants(draw: st.DrawFn, tz: str) -> datetime:
    """An instant in 2026-2027, often within a day and a half of one of the zone's DST transitions."""
    near = transitions(tz)
    if near and draw(st.booleans()):
        return draw(st.sampled_from(near)) + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    return EPOCH + timedelta(seconds=draw(st.integers(0, int(SPAN.total_seconds()))))


@st.composite
def overrides(draw: st.DrawFn, tz: str) -> dict[str, Any]:
    start = draw(instants(tz))
    end = start + timedelta(minutes=draw(st.integers(-60, 3 * 24 * 60)))
    kind = draw(st.sampled_from(["naive", "utc", "other"]))
    if kind == "naive":
        start, end = (t.astimezone(ZoneInfo(tz)).replace(tzinfo=None) for t in (start, end))
    elif kind == "other":
        start, end = (t.astimezone(ZoneInfo("Asia/Tokyo")) for t in (start, end))
    return {"user": draw(st.sampled_from(["ovr", "ann", "zed"])), "start": start, "end": end}


@st.composite
def schedules(draw: st.DrawFn) -> ScheduleConfig:
    tz = draw(st.sampled_from(ZONES))
    return sched(tz, draw(st.lists(layers(), min_size=1, max_size=3)), draw(st.lists(overrides(tz), max_size=3)))


@st.composite
def windows(draw: st.DrawFn, tz: str) -> tuple[datetime, datetime]:
    lo = draw(instants(tz))
    return lo, lo + timedelta(minutes=draw(st.integers(1, 10 * 24 * 60)))


def oracle(schedule: ScheduleConfig, t: datetime) -> tuple[str, str] | None:
    """A slow, direct reading of the documented semantics."""
    zone = ZoneInfo(schedule.timezone)

    def at(day: date, tm: time) -> datetime:
        return datetime.combine(day, tm, tzinfo=zone).astimezone(UTC)

    def inst(value: datetime) -> datetime:
        return value.replace(tzinfo=zone) if value.tzinfo is None else value

    hit = None
    for i, o in enumerate(schedule.overrides):
        if inst(o.start) <= t < inst(o.end):
            hit = (o.user, f"override {i}")
    if hit:
        return hit
    for i in reversed(range(len(schedule.layers))):
        layer = schedule.layers[i]
        epoch = at(layer.start, layer.handoff)
        if t < epoch:
            continue
        if layer.restrictions:
            today = t.astimezone(zone).date()
            inside = False
            for back in range(3):
                day = today - timedelta(days=back)
                for r in layer.restrictions:
                    if WEEKDAYS[day.weekday()] in r.days:
                        end_day = day if r.end > r.start else day + timedelta(days=1)
                        inside = inside or at(day, r.start) <= t < at(end_day, r.end)
            if not inside:
                continue
        n, unit = int(layer.shift[:-1]), layer.shift[-1]
        if unit == "h":
            k = (t - epoch) // timedelta(hours=n)
        else:
            length = timedelta(days=n * (7 if unit == "w" else 1))
            k = max(0, int((t - epoch) / length) - 2)
            while at(layer.start + length * (k + 1), layer.handoff) <= t:
                k += 1
            assert at(layer.start + length * k, layer.handoff) <= t
        source = f"layer {i} ({layer.name})" if layer.name else f"layer {i}"
        return layer.users[k % len(layer.users)], source
    return None


def answer(schedule: ScheduleConfig, t: datetime) -> tuple[str, str] | None:
    shift = on_call_at(schedule, t)
    return None if shift is None else (shift.user, shift.source)


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(data=st.data(), schedule=schedules())
def test_timeline_matches_point_answers(data: st.DataObject, schedule: ScheduleConfig) -> None:
    lo, hi = data.draw(windows(schedule.timezone))
    pieces = shifts_between(schedule, lo, hi)
    for piece in pieces:
        assert lo <= piece.start < piece.end <= hi
    for a, b in pairwise(pieces):
        assert a.end <= b.start
        if a.end == b.start:
            assert (a.user, a.source) != (b.user, b.source), "touching pieces of one answer are merged"
    samples = [lo + (hi - lo) * f for f in data.draw(st.lists(st.floats(0, 1, exclude_max=True), max_size=6))]
    samples += [p.start for p in pieces] + [p.end - US for p in pieces] + [lo]
    for t in samples:
        if not lo <= t < hi:
            continue
        containing = [p for p in pieces if p.start <= t < p.end]
        assert len(containing) <= 1
        expected = (containing[0].user, containing[0].source) if containing else None
        assert answer(schedule, t) == expected
        assert oracle(schedule, t) == expected


@PROPS
@given(data=st.data(), schedule=schedules())
def test_answer_is_constant_until_its_end(data: st.DataObject, schedule: ScheduleConfig) -> None:
    t = data.draw(instants(schedule.timezone))
    now = answer(schedule, t)
    shift = on_call_at(schedule, t)
    end = next_change(schedule, t)
    if shift is not None:
        assert shift.start <= t < shift.end
        assert end == shift.end
    assert end is None or end > t
    horizon = end if end is not None else t + timedelta(days=30)
    for f in data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=4)):
        assert answer(schedule, min(t + (horizon - t) * f, horizon - US)) == now
    assert answer(schedule, horizon - US) == now
    assert oracle(schedule, t) == now
    # The end is an actual change, and so is the start (single-user layers aside: they report their shifts).
    if all(len(set(layer.users)) > 1 for layer in schedule.layers):
        if end is not None:
            assert answer(schedule, end) != now
        if shift is not None:
            assert answer(schedule, shift.start - US) != now


@PROPS
@given(data=st.data(), layer=layers(restricted=False, shifts=st.sampled_from(["1d", "2d", "3d", "1w", "2w"])))
def test_day_and_week_handoffs_stay_at_local_handoff_time(data: st.DataObject, layer: dict[str, Any]) -> None:
    tz = data.draw(st.sampled_from(ZONES))
    zone = ZoneInfo(tz)
    layer["users"] = ["u0", "u1", "u2"][: data.draw(st.integers(2, 3))]
    schedule = sched(tz, [layer])
    lo = data.draw(instants(tz))
    hi = lo + timedelta(days=45)
    pieces = shifts_between(schedule, lo, hi)
    n = int(layer["shift"][:-1]) * (7 if layer["shift"].endswith("w") else 1)
    handoff: time = layer["handoff"]
    boundaries = [p.start for p in pieces if p.start > lo]
    if datetime.combine(layer["start"], handoff, tzinfo=zone) <= lo:
        assert len(boundaries) >= 45 // n - 1
    for b, nxt in pairwise(boundaries):
        assert abs((nxt - b) - timedelta(days=n)) <= H
    for b in boundaries:
        local = b.astimezone(zone)
        if local.time() != handoff:
            # Only where the handoff does not exist that day: then it is the gap-normalized instant.
            naive = datetime.combine(local.date(), handoff, tzinfo=zone)
            assert naive.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive.replace(tzinfo=None)
            assert naive.astimezone(UTC) == b
            assert local.time() > handoff
        assert on_call_at(schedule, b) is not None
        if b > datetime.combine(layer["start"], handoff, tzinfo=zone):
            assert on_call_at(schedule, b - US) is not None
