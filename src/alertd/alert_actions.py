"""The alert actions beyond acknowledge and close: snooze, un-acknowledge, escalate now,
reassign (switch policy), add a note, merge a duplicate, reopen.

Each runs inside the caller's write transaction and writes its timeline rows there; what reacts
(plugins, workflows, the loops) hears it from the event dispatcher after commit. They raise
``alerts.AlertError`` when the action cannot apply. Used by people (CLI, API, SMS replies) through
``commands.apply_action`` and by workflows (``alertd.workflows``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd import alert_timers, escalation
from alertd.alerts import AlertError
from alertd.apply import acknowledge, close
from alertd.timeline import AlertEvent, add_event

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import RawConfig

MIN_SNOOZE_SECONDS = 60
MAX_SNOOZE_SECONDS = 7 * 86400
MAX_NOTE_CHARS = 2000


def _status(db: Database, alert_id: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT id, status, escalation_policy, snoozed_until, integration, source_id FROM alerts WHERE id = ?",
        [alert_id],
    ).fetchone()
    if row is None:
        raise AlertError(f"no alert #{alert_id}")
    return dict(row)


def _not_closed(db: Database, alert_id: int) -> dict[str, Any]:
    alert = _status(db, alert_id)
    if alert["status"] == "closed":
        raise AlertError(f"alert #{alert_id} is closed")
    return alert


def snooze(db: Database, alert_id: int, seconds: float, actor: str, via: str, now: float) -> list[AlertEvent]:
    """Acknowledge until ``now + seconds``; then the alert is open again and escalates from its
    first level (a timer row, fired by the escalation loop)."""
    if not MIN_SNOOZE_SECONDS <= seconds <= MAX_SNOOZE_SECONDS:
        raise AlertError(f"a snooze lasts from 1 minute to {MAX_SNOOZE_SECONDS // 86400} days")
    _not_closed(db, alert_id)
    events: list[AlertEvent] = []
    until = now + seconds
    events += acknowledge(db, alert_id, actor, via, now, snoozed=True)
    db.execute("UPDATE alerts SET snoozed_until = ?, updated_at = ? WHERE id = ?", [until, now, alert_id])
    alert_timers.set_timer(db, alert_id, alert_timers.SNOOZE, "", until, repr(until), now)
    events.append(add_event(db, alert_id, "snoozed", actor, via, now, until=until, minutes=round(seconds / 60, 2)))
    return events


def end_snooze(db: Database, alert_id: int, ref: str, now: float) -> list[AlertEvent]:
    """The snooze timer fired: open again, unless the alert changed since (closed, un-acknowledged,
    snoozed anew: then ``ref`` no longer matches and nothing happens)."""
    alert = _status(db, alert_id)
    if alert["status"] != "acknowledged" or alert["snoozed_until"] is None or repr(alert["snoozed_until"]) != ref:
        return []
    return unacknowledge(db, alert_id, "snooze", "engine", now, reason="snooze ended")


def unacknowledge(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    """Back to open; the escalation plan starts again from its first level."""
    alert = _status(db, alert_id)
    if alert["status"] != "acknowledged":
        raise AlertError(f"alert #{alert_id} is {alert['status']}, not acknowledged")
    db.execute(
        "UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL, snoozed_until = NULL, "
        "updated_at = ? WHERE id = ?",
        [now, alert_id],
    )
    alert_timers.cancel(db, alert_id, alert_timers.SNOOZE, now)
    events = [add_event(db, alert_id, "unacknowledged", actor, via, now, **detail)]
    if alert["escalation_policy"] is not None:
        escalation.restart(db, alert_id, alert["escalation_policy"], now)
    return events


def escalate(
    db: Database, raw: RawConfig, alert_id: int, actor: str, via: str, now: float, level: int | None = None
) -> list[AlertEvent]:
    """Fire the next level now, or level ``level`` (1 = the first). An acknowledged alert is open
    again (a page goes out only for open alerts)."""
    alert = _not_closed(db, alert_id)
    name = alert["escalation_policy"]
    policy = raw.escalation_policies.get(name) if name else None
    if policy is None:
        raise AlertError(f"alert #{alert_id} has no escalation policy to escalate with (reassign it to one)")
    if level is not None and not 1 <= level <= len(policy.levels):
        raise AlertError(f"policy {name!r} has levels 1 to {len(policy.levels)}; found {level}")
    events: list[AlertEvent] = []
    if alert["status"] == "acknowledged":
        events += unacknowledge(db, alert_id, actor, via, now, reason="escalated")
    plan = escalation.plan(db, alert_id)
    if level is not None:
        target = level - 1
    elif plan is None:
        target = 0
    elif plan["state"] == "finished":
        target = len(policy.levels) - 1  # nothing after the last level: page it again
    else:
        target = min(plan["level"], len(policy.levels) - 1)
    pass_ = plan["pass"] if plan is not None else 0
    escalation.restart(db, alert_id, name, now, level=target, pass_=pass_)
    events.append(add_event(db, alert_id, "escalation_requested", actor, via, now, level=target, policy=name))
    return events


def reassign(
    db: Database, raw: RawConfig, alert_id: int, policy: str, actor: str, via: str, now: float
) -> list[AlertEvent]:
    """Switch the alert to another escalation policy; an open alert escalates on it from its first level."""
    if policy not in raw.escalation_policies:
        known = ", ".join(sorted(raw.escalation_policies)) or "none"
        raise AlertError(f"no escalation policy named {policy!r} (known: {known})")
    alert = _not_closed(db, alert_id)
    db.execute("UPDATE alerts SET escalation_policy = ?, updated_at = ? WHERE id = ?", [policy, now, alert_id])
    events = [
        add_event(db, alert_id, "reassigned", actor, via, now, policy=policy, previous=alert["escalation_policy"])
    ]
    escalation.restart(db, alert_id, policy, now)
    if alert["status"] != "open":  # acknowledged: the plan waits, as it would have on the old policy
        escalation.stop(db, alert_id, now, reason="acknowledged")
    return events


def add_note(db: Database, alert_id: int, text: str, actor: str, via: str, now: float) -> list[AlertEvent]:
    text = text.strip()
    if not text:
        raise AlertError("a note needs some text")
    if len(text) > MAX_NOTE_CHARS:
        raise AlertError(f"a note is at most {MAX_NOTE_CHARS} characters; found {len(text)}")
    _status(db, alert_id)
    db.execute("UPDATE alerts SET updated_at = ? WHERE id = ?", [now, alert_id])
    return [add_event(db, alert_id, "note_added", actor, via, now, text=text)]


def merge(db: Database, alert_id: int, into: int, actor: str, via: str, now: float) -> list[AlertEvent]:
    """Close ``alert_id`` as a duplicate of ``into``; later messages for its source id append to ``into``."""
    if alert_id == into:
        raise AlertError("an alert cannot be merged into itself")
    _not_closed(db, alert_id)
    target = _status(db, into)
    if target["status"] == "closed":
        raise AlertError(f"alert #{into} is closed: merge into an alert that is not")
    db.execute("UPDATE alerts SET merged_into = ? WHERE id = ?", [into, alert_id])
    events = [add_event(db, alert_id, "merged", actor, via, now, into=into)]
    events += close(db, alert_id, actor, via, now, merged_into=into)
    db.execute("UPDATE alerts SET updated_at = ? WHERE id = ?", [now, into])
    events.append(add_event(db, into, "duplicate_merged", actor, via, now, duplicate=alert_id))
    return events


def reopen(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    """Open an acknowledged alert again (as un-acknowledge), or a closed one if its source has no
    other alert open meanwhile; the escalation starts again from its first level."""
    alert = _status(db, alert_id)
    if alert["status"] == "acknowledged":
        return unacknowledge(db, alert_id, actor, via, now, **detail)
    if alert["status"] == "open":
        raise AlertError(f"alert #{alert_id} is already open")
    live = db.execute(
        "SELECT id FROM alerts WHERE integration = ? AND source_id = ? AND status != 'closed'",
        [alert["integration"], alert["source_id"]],
    ).fetchone()
    if live is not None:
        raise AlertError(f"alert #{live[0]} is open for the same source: reopen that one")
    db.execute(
        "UPDATE alerts SET status = 'open', closed_at = NULL, closed_by = NULL, acknowledged_at = NULL, "
        "acknowledged_by = NULL, merged_into = NULL, updated_at = ? WHERE id = ?",
        [now, alert_id],
    )
    events = [add_event(db, alert_id, "reopened", actor, via, now, **detail)]
    if alert["escalation_policy"] is not None:
        escalation.restart(db, alert_id, alert["escalation_policy"], now)
    return events
