"""``alertd oncall`` and the iCal feed, across both DST transitions in two zones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from icalendar import Calendar

from helpers import run_cli_in_process, write_config
from inprocess import InProcessThread

SCHEDULES = """
[users.alice]
contact = { email = "a@x" }
[users.bob]
full_name = "Bob B."
contact = { email = "b@x" }
[users.carol]
contact = { email = "c@x" }

# Daily 09:00 handoff in New York: DST 2026-03-08 (spring forward) and 2026-11-01 (fall back).
[schedules.ny]
timezone = "America/New_York"
[[schedules.ny.layers]]
users = ["alice", "bob"]
shift = "1d"
handoff = "09:00"
start = 2026-01-05
[[schedules.ny.overrides]]
user = "carol"
start = 2026-11-01T00:30:00
end = 2026-11-01T03:00:00

# Weekly Monday 09:00 handoff in Berlin: DST 2026-03-29 and 2026-10-25 (both Sundays).
[schedules.berlin]
timezone = "Europe/Berlin"
[[schedules.berlin.layers]]
users = ["alice", "bob"]
shift = "1w"
handoff = "09:00"
start = 2026-01-05
[[schedules.berlin.overrides]]
user = "carol"
start = 2026-03-28T22:00:00
end = 2026-03-29T12:00:00
"""


def oncall(config: Path, schedule: str, at: str) -> dict:
    result = run_cli_in_process("oncall", schedule, "--at", at, "--json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("oncall"), SCHEDULES)


@pytest.mark.parametrize(
    ("schedule", "at", "user", "since", "until"),
    [
        # 2026-01-05 is alice's day 0; 2026-03-07 is day 61 (bob), 03-08 day 62 (alice).
        ("ny", "2026-03-08T08:59", "bob", "2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"),
        ("ny", "2026-03-08T09:00", "alice", "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"),
        # Fall back: the override covers 00:30 to 03:00 local (which is 3.5 real hours).
        ("ny", "2026-11-01T00:29", "bob", "2026-10-31T09:00:00-04:00", "2026-11-01T00:30:00-04:00"),
        ("ny", "2026-11-01T01:30", "carol", "2026-11-01T00:30:00-04:00", "2026-11-01T03:00:00-05:00"),
        ("ny", "2026-11-01T03:00", "bob", "2026-11-01T03:00:00-05:00", "2026-11-01T09:00:00-05:00"),
        ("ny", "2026-11-01T09:00", "alice", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"),
        # Berlin, week 11 (2026-03-23, bob) is interrupted by carol across the spring-forward night.
        ("berlin", "2026-03-28T21:59", "bob", "2026-03-23T09:00:00+01:00", "2026-03-28T22:00:00+01:00"),
        ("berlin", "2026-03-29T03:30", "carol", "2026-03-28T22:00:00+01:00", "2026-03-29T12:00:00+02:00"),
        ("berlin", "2026-03-29T12:00", "bob", "2026-03-29T12:00:00+02:00", "2026-03-30T09:00:00+02:00"),
        ("berlin", "2026-03-30T09:00", "alice", "2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"),
        # Fall back on Sunday 2026-10-25: week 41 (2026-10-19, bob) is 7 days + 1 hour, ends Monday 09:00 CET.
        ("berlin", "2026-10-25T02:30", "bob", "2026-10-19T09:00:00+02:00", "2026-10-26T09:00:00+01:00"),
        ("berlin", "2026-10-26T09:00", "alice", "2026-10-26T09:00:00+01:00", "2026-11-02T09:00:00+01:00"),
    ],
)
def test_oncall_across_dst(config: Path, schedule: str, at: str, user: str, since: str, until: str) -> None:
    answer = oncall(config, schedule, at)
    assert (answer["user"], answer["since"], answer["until"]) == (user, since, until)


def test_ical_feed(tmp_path: Path) -> None:
    config = write_config(tmp_path, SCHEDULES)
    with InProcessThread(config) as daemon:
        feed = oncall(config, "ny", "2026-12-01T12:00")["ical"]
        path = "/" + feed.split("/", 3)[3]
        response = daemon.get(path + "&weeks=2")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/calendar")
        events = [c for c in Calendar.from_ical(response.content).walk("VEVENT")]
        assert len(events) in (15, 16)  # daily shifts for two weeks, plus the one in progress
        assert any("Bob B." in str(e["SUMMARY"]) for e in events)
        assert daemon.get("/schedules/ny.ics?token=wrong").status_code == 404
        assert daemon.get("/schedules/nope.ics").status_code == 404


@pytest.mark.parametrize(
    ("bad", "asked"),
    [
        ('shift = "1d"\nhandoff = "09:00"', "ny"),  # valid (the models convert the string): no error
        ('shift = "0d"\nhandoff = 09:00:00', "ny"),  # the schedule asked for
        ('shift = "0d"\nhandoff = 09:00:00', "berlin"),  # another one: refused as before (all [schedules])
        ('shift = "1d"\nhandoff = "25:00"', None),
        ('shift = "1d"\nhandoff = 09:00:00\nrestrictions = [{ days = ["monday"] }]', "ny"),
    ],
)
def test_a_bad_schedule_gets_the_models_message(tmp_path: Path, bad: str, asked: str | None) -> None:
    # oncall checks [server] and [schedules] without pydantic when plainly valid; anything else gets
    # the models' verdict, word for word as check-config's (file, key path, what was expected).
    from alertd.config.problems import ConfigError
    from alertd.config.subset import read_tables

    config = write_config(tmp_path, SCHEDULES.replace('shift = "1d"\nhandoff = "09:00"', bad, 1))
    assert bad in config.read_text()
    result = run_cli_in_process("oncall", *([asked] if asked else []), "--at", "2026-12-01T12:00", "-c", str(config))
    try:
        read_tables(config, ("store", "users", "server", "schedules"))
    except ConfigError as exc:
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"{exc}\n")
        assert result.stderr.startswith(f"{config}: schedules.ny.layers[0].")
    else:
        assert result.returncode == 0 and "ny: " in result.stdout, result.stderr
