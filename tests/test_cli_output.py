"""Items 12, 19, 20: what the CLI prints for people, and times in the reader's zone.

One daemon (module scope) with a real SMTP server (aiosmtpd) is driven through a
signed alarm, an escalation that pages erik by email, a CLI acknowledgement, repeats
and a rejected body full of terminal escapes; the CLI is then read with CliRunner.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from alertd.cli import build_cli
from alertd.store import connect
from helpers import free_port, wait_until
from inbound_fixtures import TOKEN, Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import notification

ESCAPES = "\x1b[2J\x1b[H\rlevel=info fake line\x00\u2028\u202e"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


class World:
    def __init__(self, config: Path, db: Db, mailbox: Mailbox, daemon: InProcessThread) -> None:
        self.config, self.db, self.mailbox, self.daemon = config, db, mailbox, daemon
        self.group, self.pm = build_cli()

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return CliRunner().invoke(self.group, ["-c", str(self.config), *args], obj=self.pm, env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("cli-output")
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    extra = f"""
[channels.smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from_address = "alertd <alertd@example.com>"

[users.erik]
full_name = "Erik"
timezone = "America/New_York"
contact = {{ email = "erik@example.com" }}

[schedules.secops-weekly]
timezone = "Europe/Berlin"
[[schedules.secops-weekly.layers]]
users = ["erik"]
shift = "1w"

[escalation_policies.security]
[[escalation_policies.security.levels]]
schedules = ["secops-weekly"]
delay_minutes = 60
"""
    config = sns_config(
        tmp_path,
        extra,
        server=f'api_tokens = [{{ name = "reader", token = "{API_TOKEN}" }}]',
        alarms='escalation_policy = "security"',
    )
    db = Db(tmp_path / "alertd.db")
    with InProcessThread(config) as daemon:
        w = World(config, db, mailbox, daemon)
        message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
        data = json.loads(message)
        data["AlarmName"] = "root-login" + ESCAPES
        assert post_envelope(daemon, notification(data)).status_code == 200
        wait_until(lambda: mailbox.messages, what="the page to erik")
        # The delivery is on the timeline before the repeats, so the timeline's order is fixed.
        wait_until(lambda: db.rows("SELECT 1 FROM outbox WHERE status = 'sent'"), what="the page to be recorded")
        for _ in range(3):
            assert post_envelope(daemon, notification(data)).status_code == 200
        assert w.cli("ack", "1", "--user", "erik").exit_code == 0
        # A body that would clear the screen and print a fake line if shown raw.
        daemon.post(f"/in/{TOKEN}", content=b"not json " + ESCAPES.encode(), headers={"User-Agent": "a\x1bb"})
        wait_until(lambda: len(db.inbound()) >= 5, what="the rejected body in the inbound log")
        yield w
    smtp.stop()


API_TOKEN = "reader-token-0123456789abcdef"
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def _nothing_raw(text: str) -> None:
    assert not RAW_CONTROLS.search(text), repr(text)


# --- item 20: alerts ---------------------------------------------------------------------------


def test_alerts_list_has_a_header_and_aligned_columns_within_100(world: World) -> None:
    result = world.cli("alerts", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATUS",
        "SEVERITY",
        "OPENED",
        "(UTC)",
        "AGE",
        "INTEGRATION",
        "ACK",
        "BY",
        "TITLE",
    ]
    row = lines[1]
    assert all(len(line) <= 100 for line in lines), lines
    # Columns line up under their headers.
    for column in ("STATUS", "SEVERITY", "AGE", "ACK BY", "TITLE"):
        start = lines[0].index(column)
        assert row[start] != " " and row[start - 1] == " ", (column, row)
    assert row.split()[:3] == ["#1", "acknowledged", "critical"]
    assert re.search(r"\s\d+[smhd]\s+alarms\s+erik\s+root-login", row), row
    _nothing_raw(result.output)
    assert "root-login\\x1b[2J" in row  # escaped, not obeyed


def test_alerts_show_tells_the_timeline_in_words(world: World) -> None:
    result = world.cli("alerts", "show", "1", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    out = result.output
    _nothing_raw(out)
    timeline = out.split("timeline (UTC):", 1)[1].split("notifications:", 1)[0]
    sentences = [re.sub(r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+", "", line) for line in timeline.strip().splitlines()]
    assert sentences == [
        "opened from alarms (inbound #1)",
        "escalated to level 1: erik (on call in secops-weekly)",
        "last level reached (1 pass): the policy pages nobody more",
        "paged erik by email (on call in secops-weekly)",
        "fired again 3 times at alarms (inbound #2 to #4)",
        "acknowledged by erik on the command line",
    ]
    assert "pass_number" not in out and "users=[" not in out and "via={" not in out
    assert re.search(r"acknowledged:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by erik", out), out
    assert re.search(r"#1\s+erik\s+email\s+level 1\s+sent\s+1", out), out


def test_alerts_show_json_is_unchanged_data(world: World) -> None:
    data = json.loads(world.cli("alerts", "show", "1", "--json").output)
    assert data["timeline"][0]["kind"] == "opened" and isinstance(data["created_at"], float)


def _epochs(data: Any) -> Any:
    """The API's JSON with each time back as the epoch it shows beside it (``at_epoch`` -> ``at``)."""
    if isinstance(data, list):
        return [_epochs(item) for item in data]
    if not isinstance(data, dict):
        return data
    shown = {k[: -len("_epoch")] for k in data if k.endswith("_epoch") and k[: -len("_epoch")] in data}
    out = {k: _epochs(v) for k, v in data.items() if k not in shown and k.removesuffix("_epoch") not in shown}
    return out | {k: data[f"{k}_epoch"] for k in shown}


def test_cli_and_api_show_one_read_model_of_an_alert(world: World) -> None:
    """Issue 10 item 6: one alert detail (alert, timeline, plan, notifications) for both readers."""
    from alertd import readmodel

    cli = json.loads(world.cli("alerts", "show", "1", "--json").output)
    response = world.daemon.get("/api/v1/alerts/1", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 200, response.text
    assert _epochs(response.json()) == cli
    assert {"timeline", "escalation", "notifications"} <= set(cli) and cli["notifications"]
    db = connect(world.db.path, readonly=True)
    try:
        assert json.loads(json.dumps(readmodel.alert_detail(db, 1))) == cli
        assert readmodel.alert_detail(db, 10**9) is None
    finally:
        db.close()


# --- item 19: times in the reader's zone -----------------------------------------------------


def test_cli_times_follow_tz(world: World) -> None:
    created = world.db.alerts()[0]["created_at"]
    new_york = datetime.fromtimestamp(created, ZoneInfo("America/New_York"))
    listing = world.cli("alerts", "--tz", "America/New_York").output
    abbreviation = new_york.tzname()
    assert f"OPENED ({abbreviation})" in listing
    assert new_york.strftime("%Y-%m-%d %H:%M") in listing
    shown = world.cli("alerts", "show", "1", "--tz", "America/New_York").output
    assert re.search(rf"opened:\s+{new_york.strftime('%Y-%m-%d %H:%M:%S')} {abbreviation}\n", shown), shown
    assert f"timeline ({abbreviation}):" in shown
    received = world.db.inbound()[0]["received_at"]
    tokyo = datetime.fromtimestamp(received, ZoneInfo("Asia/Tokyo"))
    inbound = world.cli("inbound-log", "--tz", "Asia/Tokyo").output
    assert "RECEIVED (JST)" in inbound and tokyo.strftime("%Y-%m-%d %H:%M:%S") in inbound
    detail = world.cli("inbound-log", "show", "1", "--tz", "Asia/Tokyo").output
    assert f"received_at: {tokyo.strftime('%Y-%m-%d %H:%M:%S')} JST" in detail


def test_cli_times_default_to_the_local_zone(world: World) -> None:
    from helpers import run_cli

    result = run_cli("-c", str(world.config), "alerts", env={"TZ": "Asia/Tokyo"})
    assert result.returncode == 0, result.stderr
    assert "OPENED (JST)" in result.stdout


def test_unknown_tz_is_one_line(world: World) -> None:
    result = world.cli("alerts", "--tz", "Mars/Olympus")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --tz: unknown time zone 'Mars/Olympus' (expected an IANA name such as Europe/Berlin or UTC)"
    ]


def test_email_shows_the_time_in_the_recipients_zone(world: World) -> None:
    mail = world.mailbox.messages[0]
    created = world.db.alerts()[0]["created_at"]
    local = datetime.fromtimestamp(created, ZoneInfo("America/New_York"))
    text = mail.get_body(("plain",)).get_content()
    expected = f"Opened: {local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname()} (America/New_York)"
    assert expected in text, text
    html = mail.get_body(("html",)).get_content()
    assert f"{local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname()} (America/New_York)" in html
    # No time shown in UTC (a signed link's random token may contain the letters, so look at times).
    assert not re.search(r"\d\d:\d\d(:\d\d)? UTC", text), text
    # Terminal escapes from the alarm's name are shown, not obeyed, in the text part.
    _nothing_raw(text.replace("\r\n", "").replace("\n", ""))
    assert "root-login\\x1b[2J" in text
    _nothing_raw(str(mail["Subject"]))


# --- items 12 and 20: the inbound log --------------------------------------------------------


def test_inbound_show_escapes_a_hostile_body_and_headers(world: World) -> None:
    row = next(r for r in world.db.inbound() if r["outcome"] == "Rejected")
    result = world.cli("inbound-log", "show", str(row["id"]))
    assert result.exit_code == 0, result.output
    _nothing_raw(result.output.replace("\n", ""))
    assert "not json \\x1b[2J\\x1b[H\\rlevel=info fake line\\x00\\u2028\\u202e" in result.output
    assert "user-agent: a\\x1bb" in result.output
    assert not any(line.endswith(": ") for line in result.output.splitlines())


def test_inbound_list_reads_well(world: World) -> None:
    result = world.cli("inbound-log", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "RECEIVED", "(UTC)", "INTEGRATION", "HTTP", "OUTCOME", "ALERT", "DETAIL"]
    assert all(len(line) <= 100 for line in lines)
    for line in lines[1:]:
        assert " - " not in line and not line.endswith("-"), line
        words = line.split()
        assert all(a != b for a, b in itertools.pairwise(words)), line
    rejected = next(line for line in lines if "Rejected" in line)
    assert re.search(r"alarms\s+400\s+Rejected\s+body is not JSON$", rejected), rejected
    opened = next(line for line in lines if "Mapped Open" in line)
    assert re.search(r"alarms\s+200\s+Mapped Open\s+#1$", opened), opened


@pytest.mark.parametrize("spelling", ["mapped open", "MAPPED-OPEN", "Mapped Open", "mapped_open"])
def test_outcome_filter_ignores_case(world: World, spelling: str) -> None:
    result = world.cli("inbound-log", "--outcome", spelling)
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()[1:]
    assert len(rows) == 1 and "Mapped Open" in rows[0]


def test_unknown_outcome_lists_the_valid_ones(world: World) -> None:
    result = world.cli("inbound-log", "--outcome", "opened")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: --outcome: unknown outcome 'opened'; expected one of: ")
    for outcome in ("Mapped Open", "Mapped Closed", "Rejected", "Duplicate Delivery", "Filtered"):
        assert outcome in lines[0]


def test_json_output_is_the_same_data_with_inert_escapes(world: World) -> None:
    result = world.cli("alerts", "--json")
    assert result.exit_code == 0
    _nothing_raw(result.output.replace("\n", ""))
    [alert] = json.loads(result.output)
    assert alert["title"].startswith("root-login" + ESCAPES)  # the data itself is unchanged


def test_since_without_offset_is_in_the_shown_zone(world: World) -> None:
    last = world.db.inbound()[-1]
    shown = datetime.fromtimestamp(last["received_at"] - 1, ZoneInfo("Asia/Tokyo")).replace(tzinfo=None)
    since = shown.isoformat(timespec="seconds")
    listing = world.cli("inbound-log", "--tz", "Asia/Tokyo", "--since", since).output.splitlines()
    assert any(line.startswith(f"#{last['id']} ") for line in listing), listing
