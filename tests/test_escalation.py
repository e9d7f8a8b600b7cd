"""Escalation: the pure sequence, the persisted plan, a real daemon killed mid-escalation, and an
ack that stops an escalation (in-process, on the fake clock: tests/inprocess.py)."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertd import alerts, apply, escalation, outbox
from alertd.config import build_config
from alertd.escalation import Position, advance, fire_due, level_targets
from alertd.mapping import Decision
from alertd.store.schema import migrate
from helpers import ROOT, DaemonProcess, run_cli_in_process, wait_until
from inbound_fixtures import EVENTS_TOKEN, TOKEN, Db, post_envelope, sample_message, sns_config
from inprocess import InProcess, in_process
from postgres import connect
from sns_signing import headers_for, notification

# --- the pure sequence ------------------------------------------------------------------


@given(levels=st.integers(1, 6), repeat=st.integers(0, 5))
@settings(max_examples=100)
def test_sequence_visits_every_level_of_every_pass_in_order(levels: int, repeat: int) -> None:
    raw = build_config(
        Path("x.toml"),
        {
            "users": {"u": {"contact": {"email": "u@x"}}},
            "escalation_policies": {"p": {"repeat": repeat, "levels": [{"users": ["u"]}] * levels}},
        },
        None,
    ).raw
    policy = raw.escalation_policies["p"]
    pos: Position | None = Position(0, 0)
    seen = []
    while pos is not None:
        seen.append((pos.pass_, pos.level))
        pos = advance(policy, pos)
    assert seen == [(p, lv) for p in range(repeat + 1) for lv in range(levels)]


PEOPLE = {
    "users": {n: {"contact": {"email": f"{n}@x", "sms": f"+1555000000{i}"}} for i, n in enumerate("abcd")},
    "groups": {"g": {"members": ["b", "c"]}},
    "schedules": {
        "s": {
            "timezone": "Europe/Berlin",
            "layers": [{"users": ["d", "a"], "shift": "1d", "handoff": "09:00", "start": "2026-01-05"}],
        }
    },
}


def test_level_targets_dedup_and_order() -> None:
    raw = build_config(
        Path("x.toml"),
        {**PEOPLE, "escalation_policies": {"p": {"levels": [{"users": ["a"], "groups": ["g"], "schedules": ["s"]}]}}},
        None,
    ).raw
    level = raw.escalation_policies["p"].levels[0]
    # 2026-01-05 is the first shift (d); 2026-01-06 10:00 Berlin is the second (a, already listed).
    t1 = level_targets(raw, level, datetime(2026, 1, 5, 12, tzinfo=UTC))
    assert t1.users == ("a", "b", "c", "d") and t1.via["d"] == "schedule:s" and t1.via["b"] == "group:g"
    t2 = level_targets(raw, level, datetime(2026, 1, 6, 12, tzinfo=UTC))
    assert t2.users == ("a", "b", "c")


# --- the persisted plan -------------------------------------------------------------------


def make_db(tmp_path: Path, policy: dict) -> tuple[object, object]:
    config = build_config(tmp_path / "a.toml", {**PEOPLE, "escalation_policies": {"p": policy}}, None)
    db = connect(tmp_path / "e.db")
    migrate(db)
    return db, config


def open_alert(db, now: float) -> int:
    decision = Decision("open", "Mapped Open", source_id=uuid.uuid4().hex, title="t")
    with db.atomic():
        alert_id = apply.open_alert(db, "i", "p", decision, None, now)
    return alert_id


def fire(db, config, now: float) -> int:
    with db.atomic():
        _events, queued = fire_due(db, config, now)
    return queued


def steps(db, alert_id: int) -> list[tuple[str, str, str]]:
    return [(r["step"], r["user"], r["kind"]) for r in outbox.for_alert(db, alert_id)]


def test_plan_fires_levels_at_their_times_and_repeats(tmp_path: Path) -> None:
    db, config = make_db(
        tmp_path,
        {"repeat": 1, "levels": [{"users": ["a"], "delay_minutes": 5}, {"groups": ["g"], "delay_minutes": 10}]},
    )
    t0 = 1_800_000_000.0
    alert_id = open_alert(db, t0)
    assert fire(db, config, t0) == 2  # a: email + sms
    assert fire(db, config, t0 + 299) == 0  # not yet
    assert fire(db, config, t0 + 300) == 4  # b and c
    assert escalation.plan(db, alert_id)["next_due"] == t0 + 300 + 600
    assert fire(db, config, t0 + 900) == 2  # pass 1, level 0
    assert fire(db, config, t0 + 1200) == 4
    plan = escalation.plan(db, alert_id)
    assert plan["state"] == "finished" and plan["next_due"] is None
    assert fire(db, config, t0 + 99999) == 0
    assert sorted({s for s, _u, _k in steps(db, alert_id)}) == ["0:0", "0:1", "1:0", "1:1"]


@pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL
def test_empty_level_is_skipped_at_once_and_recorded(tmp_path: Path) -> None:
    policy = {"levels": [{"schedules": ["night"]}, {"users": ["b"]}]}
    people = {
        **PEOPLE,
        "schedules": {"night": {"layers": [{"users": ["a"], "restrictions": [{"start": "22:00", "end": "06:00"}]}]}},
    }
    config = build_config(tmp_path / "a.toml", {**people, "escalation_policies": {"p": policy}}, None)
    db = connect(tmp_path / "e.db")
    migrate(db)
    noon = datetime(2026, 6, 1, 12, tzinfo=UTC).timestamp()
    alert_id = open_alert(db, noon)
    fire(db, config, noon)
    assert {u for _s, u, _k in steps(db, alert_id)} == {"b"}
    kinds = [e["kind"] for e in alerts.timeline(db, alert_id)]
    assert kinds == ["opened", "level_skipped", "escalated", "escalation_exhausted"]


def test_ack_stops_and_close_cancels_pending(tmp_path: Path) -> None:
    db, config = make_db(tmp_path, {"levels": [{"users": ["a"], "delay_minutes": 1}, {"users": ["b"]}]})
    t0 = 1_800_000_000.0
    alert_id = open_alert(db, t0)
    fire(db, config, t0)
    with db.atomic():
        apply.acknowledge(db, alert_id, "a", "test", t0 + 10)
    assert fire(db, config, t0 + 600) == 0
    assert escalation.plan(db, alert_id)["state"] == "stopped"
    assert {r["status"] for r in outbox.for_alert(db, alert_id)} == {"cancelled"}


def test_a_step_replayed_after_a_crash_notifies_nobody_twice(tmp_path: Path) -> None:
    db, config = make_db(tmp_path, {"levels": [{"users": ["a"]}]})
    t0 = 1_800_000_000.0
    alert_id = open_alert(db, t0)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), db.atomic():
        fire_due(db, config, t0)
        raise Crash  # the process died before COMMIT
    assert steps(db, alert_id) == []
    assert fire(db, config, t0) == 2
    # Even if the plan row were stale, the idempotency keys refuse a second copy.
    db.execute("UPDATE escalations SET state = 'active', level = 0, pass = 0, next_due = ?", [t0])
    assert fire(db, config, t0 + 1) == 0
    assert len(steps(db, alert_id)) == 2


# --- a real daemon -----------------------------------------------------------------------

DELAY_MIN = 0.03  # 1.8 s between levels
SLOW_MIN = 0.2  # 12 s

ESCALATION = f"""
plugins_dir = "{ROOT / "tests" / "plugins_dir"}"

[channels.recorder]
path = "{{sent}}"

[users.alice]
contact = {{ email = "alice@example.com" }}
[users.bob]
contact = {{ email = "bob@example.com" }}

[escalation_policies.ops]
repeat = 1
[[escalation_policies.ops.levels]]
users = ["alice"]
delay_minutes = {DELAY_MIN}
[[escalation_policies.ops.levels]]
users = ["bob"]
delay_minutes = {DELAY_MIN}

# For the SIGKILL test: level 0's delay never passes during a test; the test moves the plan's
# due time into the past while the daemon is down instead (what an hour of downtime does).
[escalation_policies.restart]
repeat = 1
[[escalation_policies.restart.levels]]
users = ["alice"]
delay_minutes = 60
[[escalation_policies.restart.levels]]
users = ["bob"]
delay_minutes = {DELAY_MIN}

# For acknowledging between levels: long enough for a CLI call on a loaded machine.
[escalation_policies.slow]
[[escalation_policies.slow.levels]]
users = ["alice"]
delay_minutes = {SLOW_MIN}
[[escalation_policies.slow.levels]]
users = ["bob"]
"""


def escalation_daemon(tmp_path: Path) -> tuple[DaemonProcess, Path, Db]:
    sent = tmp_path / "sent.jsonl"
    config = sns_config(
        tmp_path,
        ESCALATION.replace("{sent}", str(sent)),
        alarms='escalation_policy = "ops"',
        events='escalation_policy = "slow"',
    )
    text = config.read_text()
    config.write_text(
        'plugins_dir = "'
        + str(ROOT / "tests" / "plugins_dir")
        + '"\n'
        + text.replace(f'plugins_dir = "{ROOT / "tests" / "plugins_dir"}"\n', "")
    )
    return DaemonProcess(config), sent, Db(tmp_path / "alertd.db")


def sends(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def open_through_sns(daemon: DaemonProcess, db: Db) -> int:
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    message = message.replace("ConsoleSignInFailures", f"Alarm-{uuid.uuid4().hex[:6]}")
    assert post_envelope(daemon, notification(message)).status_code == 200
    row = db.inbound()[-1]
    assert row["outcome"] == "Mapped Open"
    return row["alert_id"]


async def open_in_process(app: InProcess, db: Db) -> int:
    """open_through_sns for an in-process daemon (tests/inprocess.py)."""
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    message = message.replace("ConsoleSignInFailures", f"Alarm-{uuid.uuid4().hex[:6]}")
    envelope = notification(message)
    response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope))
    assert response.status_code == 200
    row = db.inbound()[-1]
    assert row["outcome"] == "Mapped Open"
    return row["alert_id"]


def open_event(daemon: DaemonProcess, db: Db) -> int:
    """An alert on the ``events`` integration (policy ``slow``)."""
    message, _, _ = sample_message("sns-eventbridge-cloudtrail-consolelogin-failure.json")
    message = message.replace("3a5b7c9d-0e1f-4a2b-8c3d-5e6f7a8b9c0d", str(uuid.uuid4()))
    assert post_envelope(daemon, notification(message), token=EVENTS_TOKEN).status_code == 200
    row = db.inbound()[-1]
    assert row["outcome"] == "Mapped Open"
    return row["alert_id"]


def due_while_down(db: Db, alert_id: int) -> float:
    """Move the plan's next step of a stopped daemon's alert into the past (as a downtime longer
    than the level's delay would); return the new due time."""
    [plan] = db.rows("SELECT state, next_due FROM escalations WHERE alert_id = ?", (alert_id,))
    assert plan["state"] == "active" and plan["next_due"] > time.time() + 60, plan  # not due by itself
    due = time.time() - 1
    conn = sqlite3.connect(db.path)
    with conn:
        conn.execute("UPDATE escalations SET next_due = ? WHERE alert_id = ?", (due, alert_id))
    conn.close()
    return due


def test_escalation_survives_sigkill(tmp_path: Path) -> None:
    """The process itself (SIGKILL, restart): a subprocess. Each kill lands while the next step is
    an hour away (policy ``restart``), so no step can fire before it however slow the machine."""
    daemon, sent, db = escalation_daemon(tmp_path)
    text = daemon.config.read_text()
    daemon.config.write_text(text.replace('escalation_policy = "ops"', 'escalation_policy = "restart"', 1))
    daemon.start()
    try:
        alert_id = open_through_sns(daemon, db)
        wait_until(lambda: len(sends(sent)) == 1, what="level 0 (alice)")
        assert sends(sent)[0]["user"] == "alice" and sends(sent)[0]["step"] == "0:0"
        # Kill once the send is committed (a kill between the provider's accept and that commit
        # resends with the same idempotency key: see test_outbox).
        wait_until(
            lambda: db.rows("SELECT status FROM outbox WHERE id = 1")[0]["status"] == "sent",
            what="the first send to be recorded",
        )
        daemon.kill()  # SIGKILL mid-escalation
        due = due_while_down(db, alert_id)
        daemon.start()
        wait_until(lambda: len(sends(sent)) >= 2, what="level 1 after restart")
        # Fired at once on restart, not an hour later as a timer restarted with the process would
        # (wait_until gives up long before).
        fired = db.rows("SELECT created_at FROM outbox WHERE alert_id = ? AND step = '0:1'", (alert_id,))[0]
        assert due <= fired["created_at"], (due, fired)
        # The repeat pass's first level follows after level 1's short delay; its second is an hour
        # away: killed again, the pass number survives too.
        wait_until(lambda: len(sends(sent)) == 3, what="the repeat pass's level 0")
        wait_until(
            lambda: (
                db.rows("SELECT COUNT(*) AS n FROM outbox WHERE alert_id = ? AND status = 'sent'", (alert_id,))[0]["n"]
                == 3
            ),
            what="the third send to be recorded",
        )
        daemon.kill()
        due_while_down(db, alert_id)
        daemon.start()
        wait_until(lambda: len(sends(sent)) == 4, what="the repeat pass's level 1 after restart")
        plan = db.rows("SELECT * FROM escalations WHERE alert_id = ?", (alert_id,))[0]
        assert plan["state"] == "finished"
        queued = [
            (r["step"], r["user"]) for r in db.rows("SELECT * FROM outbox WHERE alert_id = ? ORDER BY id", (alert_id,))
        ]
        assert queued == [("0:0", "alice"), ("0:1", "bob"), ("1:0", "alice"), ("1:1", "bob")]
        steps_seen = [(s["step"], s["user"]) for s in sends(sent) if s["alert_id"] == alert_id]
        assert steps_seen == [("0:0", "alice"), ("0:1", "bob"), ("1:0", "alice"), ("1:1", "bob")]
        keys = [s["key"] for s in sends(sent)]
        assert len(keys) == len(set(keys))
        daemon.signal(signal.SIGTERM)
    finally:
        daemon.kill()


async def open_event_in_process(app: InProcess, db: Db) -> int:
    """An alert on the ``events`` integration (policy ``slow``), in-process."""
    message, _, _ = sample_message("sns-eventbridge-cloudtrail-consolelogin-failure.json")
    message = message.replace("3a5b7c9d-0e1f-4a2b-8c3d-5e6f7a8b9c0d", str(uuid.uuid4()))
    envelope = notification(message)
    response = await app.post(
        f"/in/{EVENTS_TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
    )
    assert response.status_code == 200
    row = db.inbound()[-1]
    assert row["outcome"] == "Mapped Open"
    return row["alert_id"]


async def test_a_cli_ack_stops_the_escalation(tmp_path: Path) -> None:
    """Escalation, not the process: in-process, the fake clock takes the place of the wait."""
    daemon, sent, db = escalation_daemon(tmp_path)
    async with in_process(daemon.config) as app:
        # An alert acknowledged (on the command line, beside the daemon) after level 0.
        second = await open_event_in_process(app, db)
        await app.wait_until(lambda: any(s["alert_id"] == second for s in sends(sent)), what="second alert's page")
        result = await app.off_loop(run_cli_in_process, "ack", str(second), "--user", "alice", "-c", str(daemon.config))
        assert result.returncode == 0, result.stderr
        acked = db.rows("SELECT acknowledged_at FROM alerts WHERE id = ?", (second,))[0]["acknowledged_at"]
        opened = db.rows("SELECT created_at FROM alerts WHERE id = ?", (second,))[0]["created_at"]
        assert acked < opened + SLOW_MIN * 60, "the ack came after level 1 was due: the check below means nothing"
        await app.wait_until(
            lambda: db.rows("SELECT state FROM escalations WHERE alert_id = ?", (second,))[0]["state"] == "stopped",
            what="the daemon to see the CLI's ack",
        )

        # "Nothing more" is checked against later markers, not a sleep: alerts opened now reach
        # later steps after every step the first one could still have fired (the loop fires due
        # steps in due-time order, each in one transaction with its outbox rows). The clock
        # moves past every delay instead of waiting for it.
        marker = await open_in_process(app, db)
        slow_marker = await open_event_in_process(app, db)
        # Their first steps fire before the clock moves: fired after it, they would put the next
        # steps a full (real) delay later.
        await app.wait_until(
            lambda: all(
                db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND step = '0:0'", (alert_id,))
                for alert_id in (marker, slow_marker)
            ),
            what="the marker alerts' first steps",
        )
        await app.advance(SLOW_MIN * 60 + DELAY_MIN * 60 * 4 + 1)
        await app.wait_until(
            lambda: (
                db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND step = '1:0'", (marker,))
                and db.rows("SELECT 1 FROM outbox WHERE alert_id = ? AND step = '0:1'", (slow_marker,))
            ),
            timeout=60,
            what="the marker alerts' later steps",
        )
        queued = [
            (r["step"], r["user"]) for r in db.rows("SELECT * FROM outbox WHERE alert_id = ? ORDER BY id", (second,))
        ]
        assert queued == [("0:0", "alice")]
        assert [s["user"] for s in sends(sent) if s["alert_id"] == second] == ["alice"]
        keys = [s["key"] for s in sends(sent)]
        assert len(keys) == len(set(keys))
        plan = db.rows("SELECT * FROM escalations WHERE alert_id = ?", (second,))[0]
        assert (plan["state"], plan["reason"]) == ("stopped", "acknowledged")
        shown = await app.off_loop(run_cli_in_process, "alerts", "show", str(second), "-c", str(daemon.config))
        assert (
            "acknowledged by alice on the command line" in shown.stdout
            and "escalated to level 1: alice" in shown.stdout
        )
