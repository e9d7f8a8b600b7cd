"""The iCal feed: shifts with their true handoffs (item 24), built off the event loop, cached
and capped (item 4)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from alertd.config import ScheduleConfig
from alertd.oncall import on_call_at, to_ical
from helpers import DaemonProcess, run_cli_in_process, wait_until, write_config
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

NY = ZoneInfo("America/New_York")


def daily_ny() -> ScheduleConfig:
    return ScheduleConfig.model_validate(
        {
            "timezone": "America/New_York",
            "layers": [{"users": ["alice", "bob"], "shift": "1d", "handoff": "09:00", "start": "2026-01-05"}],
        }
    )


def events_of(data: bytes) -> list:
    return list(Calendar.from_ical(data).walk("VEVENT"))


def test_shifts_cut_by_the_window_keep_their_true_start_and_end() -> None:
    # The window opens at 15:00 and closes at 12:00, both in the middle of a daily 09:00 shift.
    lo = datetime(2026, 3, 10, 15, 0, tzinfo=NY)
    hi = datetime(2026, 3, 13, 12, 0, tzinfo=NY)
    events = events_of(to_ical("ny", daily_ny(), lo, hi))
    starts = [e.decoded("DTSTART").astimezone(NY) for e in events]
    ends = [e.decoded("DTEND").astimezone(NY) for e in events]
    assert starts == [datetime(2026, 3, d, 9, 0, tzinfo=NY) for d in (10, 11, 12, 13)]
    assert ends == [datetime(2026, 3, d, 9, 0, tzinfo=NY) for d in (11, 12, 13, 14)]
    assert all(e.decoded("DTSTART").utcoffset() == timedelta(0) for e in events)  # UTC in the feed
    # The event in progress is the shift the on-call answer names.
    current = on_call_at(daily_ny(), lo)
    assert current is not None
    assert (events[0].decoded("DTSTART"), events[0].decoded("DTEND")) == (current.start, current.end)


def test_a_shift_cut_by_the_window_is_the_merged_shift_not_one_handoff_piece() -> None:
    # Alice alone in a weekly rotation hands off to herself every Monday 09:00; Bob's Saturday
    # hour interrupts her. Her shift around a window inside it runs Saturday 11:00 to the next
    # Saturday 10:00 (what the feed of a wider window says, with the same UID), not from or to
    # one of her own handoffs.
    schedule = ScheduleConfig.model_validate(
        {
            "timezone": "UTC",
            "layers": [
                {"users": ["alice"], "shift": "1w", "handoff": "09:00", "start": "2026-01-05"},
                {
                    "users": ["bob"],
                    "shift": "1d",
                    "handoff": "12:00",
                    "start": "2026-01-05",
                    "restrictions": [{"days": ["sat"], "start": "10:00", "end": "11:00"}],
                },
            ],
        }
    )
    (narrow,) = events_of(to_ical("x", schedule, datetime(2026, 1, 14, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC)))
    assert (narrow.decoded("DTSTART"), narrow.decoded("DTEND")) == (
        datetime(2026, 1, 10, 11, tzinfo=UTC),
        datetime(2026, 1, 17, 10, tzinfo=UTC),
    )
    wide = events_of(to_ical("x", schedule, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)))
    same = [e for e in wide if e.decoded("DTSTART") == narrow.decoded("DTSTART")]
    assert [str(e["UID"]) for e in same] == [str(narrow["UID"])]


def test_events_per_feed_are_capped() -> None:
    hourly = ScheduleConfig.model_validate(
        {"timezone": "UTC", "layers": [{"users": ["a", "b", "c"], "shift": "1h", "start": "2026-01-05"}]}
    )
    lo = datetime(2026, 2, 1, tzinfo=UTC)
    events = events_of(to_ical("h", hourly, lo, lo + timedelta(weeks=52), max_events=100))
    assert len(events) == 100
    assert events[-1].decoded("DTSTART") == lo + timedelta(hours=99)
    assert events[-1].decoded("DTEND") == lo + timedelta(hours=100)


HOURLY = "".join(
    f"""
[schedules.hourly{i}]
timezone = "UTC"
[[schedules.hourly{i}.layers]]
users = ["alice", "bob", "carol"]
shift = "1h"
start = 2026-01-05
"""
    for i in range(3)
)
USERS = """
[users.alice]
contact = { email = "a@x" }
[users.bob]
contact = { email = "b@x" }
[users.carol]
contact = { email = "c@x" }
"""


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def test_year_feeds_do_not_block_the_event_loop(tmp_path: Path) -> None:
    config = write_config(tmp_path, USERS + HOURLY)
    feeds = {}
    for i in range(3):
        result = run_cli_in_process("oncall", f"hourly{i}", "--json", "-c", str(config))
        assert result.returncode == 0, result.stderr
        url = json.loads(result.stdout)[0]["ical"]
        feeds[i] = "/schedules/" + url.split("/schedules/", 1)[1] + "&weeks=52"
    with DaemonProcess(config) as daemon:
        assert daemon.get("/healthz").status_code == 200
        # The web stack is built just after ready (its imports and build are not what is measured).
        assert daemon.get("/metrics").status_code == 200
        bodies: dict[int, httpx.Response] = {}

        def fetch(i: int) -> None:
            bodies[i] = httpx.get(daemon.url + feeds[i], timeout=120)

        # Three different year-long feeds of 1-hour shifts, fetched at once: three builds.
        fetched_in = this_hour()
        fetchers = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
        for t in fetchers:
            t.start()
        latencies = []
        with httpx.Client(base_url=daemon.url, timeout=30) as client:
            while any(t.is_alive() for t in fetchers) or len(latencies) < 20:
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
        for t in fetchers:
            t.join()
        assert sorted(bodies) == [0, 1, 2]

        def built_lines() -> list[str]:
            return [line for line in daemon.lines if "event=ical.built" in line]

        # Logged before each answer, but read from the daemon's stderr by another thread: waited for.
        wait_until(lambda: len(built_lines()) >= 3, what="three ical.built lines")
        built = built_lines()
        assert len(built) == 3, built
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"ical: 3 concurrent 52-week feeds of 1h shifts; /healthz n={len(latencies)} "
            f"p50={statistics.median(latencies) * 1000:.1f}ms p99={p99 * 1000:.1f}ms "
            f"max={latencies[-1] * 1000:.1f}ms; builds: {'; '.join(b.split('event=')[1] for b in built)}"
        )
        # The bar is 100 ms. A build on the loop would hold a request for a whole build: the bound
        # is half the shortest build (at least 0.3 s), so that a loaded 2-core machine, which slows
        # the builds and the answers alike, does not fail it (p99 was 0.27 s there, builds 2.5-7 s).
        shortest = min(float(line.split("seconds=")[1].split()[0]) for line in built)
        assert p99 < max(0.3, shortest / 2), (shortest, latencies[-5:])
        for i in range(3):
            response = bodies[i]
            assert response.status_code == 200, response.text
            events = events_of(response.content)
            assert len(events) == 2500  # the documented cap (MAX_EVENTS)
            now = datetime.now(UTC)
            first = events[0]
            # Shifts start on the hour (true handoffs), not at the moment the window opened.
            assert first.decoded("DTSTART").minute == 0 and first.decoded("DTSTART").second == 0
            assert first.decoded("DTSTART") <= now - timedelta(hours=23)
        # Fetched again within the same hour: served from the cache, no new build. (The cache is
        # per hour: a run that crosses the hour rightly builds anew, so it only checks the status.)
        again = daemon.get(feeds[0])
        assert again.status_code == 200
        if this_hour() == fetched_in:
            assert again.content == bodies[0].content
            wait_until(lambda: daemon.get("/healthz").status_code == 200, what="healthz")
            assert len([line for line in daemon.lines if "event=ical.built" in line]) == 3


async def test_weeks_out_of_range_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, USERS + HOURLY)
    result = run_cli_in_process("oncall", "hourly0", "--json", "-c", str(config))
    url = json.loads(result.stdout)[0]["ical"]
    path = "/schedules/" + url.split("/schedules/", 1)[1]
    async with in_process(config) as daemon:  # the handler's bounds: in-process
        for weeks in ("0", "53", "99999999999999999999", "²", "-1"):
            response = await daemon.get(path + "&weeks=" + weeks)
            assert response.status_code == 400, weeks
            assert response.text == "weeks must be 1 to 52\n"
