"""Schedule events: workflows with ``trigger = "shift_start" | "shift_end"`` and ``schedule = NAME``
run when the on-call person of that schedule changes (handoff notices, issue 11).

A handoff is an instant at which ``oncall.on_call_at`` names another user (or nobody, or somebody
after nobody); a change of source alone (an override for the same user) is none. ``shift_start``
runs when someone comes on call at it, ``shift_end`` when someone goes off. Both are pure functions
of the schedule and the instant (``next_handoff``, ``handoff_at``), so reloads and restarts just
recompute them.

Rows: ``schedule_timers`` holds, per such workflow, its next handoff (``due``), like an escalation
step. The loop ``engine/handoffs.py`` fires a due row in one write transaction that queues the
notices and webhooks (outbox rows without an alert), records the run in ``workflow_runs`` and moves
the row to the handoff after; a kill before the commit fires it again, after it never (and the
outbox rows' keys make a replayed handoff queue nothing twice). Handoffs missed while the daemon
was down fire once, for the latest of them (who is on call now), not once per missed handoff. A
reload recomputes every row not yet due from the new config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alertd import claims
from alertd.config.workflow_models import SCHEDULE_TRIGGERS, WorkflowAction, WorkflowConfig
from alertd.log import get_logger
from alertd.oncall import Shift, next_change, on_call_at
from alertd.workflow_templates import render_json, render_text
from alertd.workflows import in_window, notice_methods, queue_notice, queue_webhook

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, RawConfig, ScheduleConfig

log = get_logger("alertd.handoffs")

# Answers of on_call_at walked to find one handoff (a one-user layer changes source every shift).
MAX_STEPS = 1000
_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Handoff:
    at: datetime
    outgoing: Shift | None
    incoming: Shift | None


def _who(shift: Shift | None) -> str | None:
    return None if shift is None else shift.user


# --- pure -------------------------------------------------------------------------------------


def handoff_at(schedule: ScheduleConfig, at: datetime) -> Handoff:
    """Who goes off call and who comes on at ``at``."""
    return Handoff(at.astimezone(UTC), on_call_at(schedule, at - _BEFORE), on_call_at(schedule, at))


def is_handoff(handoff: Handoff) -> bool:
    return _who(handoff.outgoing) != _who(handoff.incoming)


def next_handoff(schedule: ScheduleConfig, after: datetime) -> datetime | None:
    """The first instant after ``after`` at which the on-call person changes; None: the answer never
    changes again. After MAX_STEPS changes of source alone (a one-user hourly layer), the last of
    them: a checkpoint, where the timer looks again (``is_handoff`` tells it from a handoff)."""
    at = after
    for _ in range(MAX_STEPS):
        change = next_change(schedule, at)
        if change is None:
            return None
        if is_handoff(handoff_at(schedule, change)):
            return change
        at = change
    return at if at != after else None


def latest_handoff(schedule: ScheduleConfig, due: datetime, now: datetime) -> tuple[Handoff | None, datetime]:
    """From ``due`` (at or before ``now``) to ``now``: the last handoff (None when there was only a
    checkpoint), and the last instant looked at (the next handoff comes after it)."""
    at = due
    first = handoff_at(schedule, due)
    last = first if is_handoff(first) else None
    for _ in range(MAX_STEPS):
        later = next_handoff(schedule, at)
        if later is None or later > now:
            break
        at = later
        handoff = handoff_at(schedule, later)
        if is_handoff(handoff):
            last = handoff
    return last, at


def fires(trigger: str, handoff: Handoff) -> bool:
    return (handoff.incoming if trigger == "shift_start" else handoff.outgoing) is not None


def _when(at: datetime, zone: ZoneInfo, since: datetime) -> str:
    """``Tue 09:00`` (with the date when it is a week or more away) in the reader's zone."""
    local = at.astimezone(zone)
    return local.strftime("%a %H:%M" if at - since < timedelta(days=6) else "%a %d %b %H:%M")


def person(raw: RawConfig, shift: Shift | None, zone: ZoneInfo, at: datetime) -> dict[str, Any] | None:
    if shift is None:
        return None
    user = raw.users.get(shift.user)
    return {
        "user": shift.user,
        "name": user.full_name if user is not None and user.full_name else shift.user,
        "start": _when(shift.start, zone, at),
        "until": _when(shift.end, zone, at),
        "start_at": shift.start.isoformat(),
        "end_at": shift.end.isoformat(),
    }


def default_message(trigger: str, schedule: str, recipient: str, variables: dict[str, Any]) -> str:
    incoming, outgoing = variables["incoming"], variables["outgoing"]
    now_on = (
        f"{incoming['name']} is on call for {schedule} until {incoming['until']}"
        if incoming
        else f"nobody is on call for {schedule} now"
    )
    if trigger == "shift_start":
        if incoming["user"] == recipient:
            return f"You are now on call for {schedule} until {incoming['until']}"
        return f"{incoming['name']} is now on call for {schedule} until {incoming['until']}"
    whose = "Your" if outgoing["user"] == recipient else f"{outgoing['name']}'s"
    return f"{whose} on-call shift for {schedule} has ended; {now_on}"


def template_vars(
    raw: RawConfig, name: str, workflow: WorkflowConfig, handoff: Handoff, recipient: str | None, zone: ZoneInfo
) -> dict[str, Any]:
    at = handoff.at
    return {
        "workflow": name,
        "schedule": workflow.schedule,
        "trigger": {"kind": workflow.trigger, "schedule": workflow.schedule, "at": at.isoformat()},
        "incoming": person(raw, handoff.incoming, zone, at),
        "outgoing": person(raw, handoff.outgoing, zone, at),
        "recipient": recipient,
        "timezone": zone.key,
        "now": at.isoformat(timespec="seconds"),
    }


def recipients(raw: RawConfig, action: WorkflowAction, handoff: Handoff) -> list[str]:
    """The users a handoff notice reaches: on_call's incoming/outgoing person, named users, groups'
    members, whoever is on call in the listed schedules at the handoff."""
    users: list[str] = []
    for side in action.on_call:
        user = _who(handoff.incoming if side == "incoming" else handoff.outgoing)
        if user is not None:
            users.append(user)
    users += action.users
    for group in action.groups:
        users += raw.groups[group].members if group in raw.groups else []
    for schedule in action.schedules:
        if schedule in raw.schedules:
            users += [s.user for s in [on_call_at(raw.schedules[schedule], handoff.at)] if s is not None]
    return [u for u in dict.fromkeys(users) if u in raw.users]


# --- rows (inside a writer transaction) -------------------------------------------------------


def _schedule_workflows(raw: RawConfig) -> dict[str, WorkflowConfig]:
    return {
        name: w
        for name, w in raw.workflows.items()
        if w.enabled and w.trigger in SCHEDULE_TRIGGERS and w.schedule in raw.schedules
    }


def sync(db: Database, config: Config, now: float) -> None:
    """Bring the rows in line with the config: one per enabled schedule workflow, its next handoff
    after ``now`` (a row already due keeps its time: it fires on the next pass)."""
    raw = config.raw
    wanted = _schedule_workflows(raw)
    at = datetime.fromtimestamp(now, UTC)
    rows = {r[0]: (r[1], r[2]) for r in db.execute("SELECT workflow, schedule, due FROM schedule_timers").fetchall()}
    for name in set(rows) - set(wanted):
        db.execute("DELETE FROM schedule_timers WHERE workflow = ?", [name])
    for name, workflow in wanted.items():
        assert workflow.schedule is not None
        schedule, due = rows.get(name, (None, None))
        if schedule == workflow.schedule and due is not None and due <= now:
            continue
        nxt = next_handoff(raw.schedules[workflow.schedule], at)
        db.execute(
            "INSERT INTO schedule_timers (workflow, schedule, due, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (workflow) DO UPDATE SET schedule = excluded.schedule, due = excluded.due, "
            "updated_at = excluded.updated_at",
            [name, workflow.schedule, None if nxt is None else nxt.timestamp(), now],
        )


def _queue(
    db: Database,
    config: Config,
    name: str,
    workflow: WorkflowConfig,
    index: int,
    action: WorkflowAction,
    handoff: Handoff,
    key: str,
    now: float,
) -> int:
    raw = config.raw
    if action.action == "webhook":
        assert action.url is not None
        variables = template_vars(raw, name, workflow, handoff, None, ZoneInfo("UTC"))
        body = render_json(action.body, variables) if action.body else json.dumps(variables, ensure_ascii=False)
        return queue_webhook(db, name, key, index, None, action.url, body, now)

    def message(recipient: str, zone: ZoneInfo) -> str:
        variables = template_vars(raw, name, workflow, handoff, recipient, zone)
        if action.message:
            return render_text(action.message, variables)
        return default_message(workflow.trigger, workflow.schedule or "", recipient, variables)

    queued = 0
    targets: list[tuple[str, str, str, ZoneInfo]] = []  # (user, method, address, zone)
    for user in recipients(raw, action, handoff):
        cfg = raw.users[user]
        for method in notice_methods(config, action, user):
            address = cfg.contact.get(method)  # type: ignore[call-overload]
            if address is not None:
                targets.append((user, method, address, ZoneInfo(cfg.timezone)))
    targets += [(address, "email", address, ZoneInfo("UTC")) for address in action.emails]
    for user, method, address, zone in targets:
        payload = json.dumps({"message": message(user, zone)})
        queued += queue_notice(db, name, key, index, None, user, method, address, payload, now)
    return queued


def run(db: Database, config: Config, name: str, workflow: WorkflowConfig, handoff: Handoff, now: float) -> int:
    """Run a schedule workflow for one handoff, at most once; return the notifications queued."""
    key = f"shift:{handoff.at.timestamp()!r}"
    claimed = db.execute(
        "INSERT INTO workflow_runs (workflow, trigger_key, alert_id, at, matched) VALUES (?, ?, NULL, ?, 0) "
        "ON CONFLICT DO NOTHING",
        [name, key, now],
    )
    if claimed.rowcount != 1:
        return 0
    if workflow.during is not None and not in_window(workflow.during, handoff.at.timestamp()):
        db.execute(
            "UPDATE workflow_runs SET detail = ? WHERE workflow = ? AND trigger_key = ?",
            [json.dumps({"conditions": {"during": False}}), name, key],
        )
        return 0
    queued = done = 0
    outcomes = []
    for index, action in enumerate(workflow.actions):
        db.execute("SAVEPOINT handoff_action")
        try:
            count = _queue(db, config, name, workflow, index, action, handoff, key, now)
            db.execute("RELEASE handoff_action")
            outcomes.append(f"queued {count}")
            queued += count
        except Exception as exc:  # one failing action (a template) is recorded; the next one runs
            db.execute("ROLLBACK TO handoff_action")
            db.execute("RELEASE handoff_action")
            outcomes.append(f"not done: {exc}"[:300])
            log.warning("handoff.action_failed", workflow=name, index=index, error=str(exc)[:300])
        done += 1
    db.execute(
        "UPDATE workflow_runs SET matched = 1, actions = ?, detail = ? WHERE workflow = ? AND trigger_key = ?",
        [done, json.dumps({"outcomes": outcomes}), name, key],
    )
    return queued


def fire_due(db: Database, config: Config, now: float) -> int:
    """Fire every schedule timer due at ``now`` (its latest missed handoff), move each to the next
    handoff; return the notifications queued."""
    raw = config.raw
    wanted = _schedule_workflows(raw)
    at_now = datetime.fromtimestamp(now, UTC)
    queued = 0
    rows = db.execute(
        claims.due_rows("SELECT workflow, due FROM schedule_timers WHERE due <= ? ORDER BY due"), [now]
    ).fetchall()
    for name, due in rows:
        workflow = wanted.get(name)
        if workflow is None or workflow.schedule is None:
            continue  # sync removes it
        schedule = raw.schedules[workflow.schedule]
        handoff, looked = latest_handoff(schedule, datetime.fromtimestamp(due, UTC), at_now)
        if handoff is not None and fires(workflow.trigger, handoff):
            queued += run(db, config, name, workflow, handoff, now)
        nxt = next_handoff(schedule, looked)
        db.execute(
            "UPDATE schedule_timers SET due = ?, fired_at = ?, last_handoff = COALESCE(?, last_handoff), "
            "updated_at = ? WHERE workflow = ?",
            [
                None if nxt is None else nxt.timestamp(),
                now,
                None if handoff is None else handoff.at.timestamp(),
                now,
                name,
            ],
        )
    return queued


def next_due(db: Database) -> float | None:
    return db.execute("SELECT MIN(due) FROM schedule_timers").fetchone()[0]
