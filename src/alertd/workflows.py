"""Workflows: ``[workflows.NAME]`` = a trigger, optional conditions, ordered actions (issue 11).

Two ways in, both inside one write transaction with everything they do:

- ``handle_events``: the event dispatcher (``engine/events.py``) hands each batch of committed
  alert events here first (workflows are its in-core subscriber). An event whose kind is a
  workflow's trigger runs the workflow; an ``opened`` (``acknowledged``) event arms the time
  triggers as ``alert_timers`` rows.
- ``run_timer``: the escalation loop (the one scheduler of alert timers) fires a due timer; it
  runs only if the alert is still in the state the trigger speaks of (still not acknowledged ...).

A run is recorded in ``workflow_runs`` under (workflow, trigger) in the same transaction as its
effects, so a batch handed out again after a crash runs nothing twice. Safety: events a workflow
caused (``actor`` ``workflow:<name>``) do not trigger that workflow; all workflows together take
at most ``workflow_limits.max_actions_per_alert`` actions on one alert. Each action leaves a
``workflow_action`` event naming the workflow and what came of it; a failing action is recorded
and the next one runs. Notices and webhooks are outbox rows (retried, never blocking others).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alertd import alert_actions, alert_timers, alerts, apply, outbox
from alertd.config.workflow_models import TIME_TRIGGERS, WEEKDAYS, TimeWindow, WorkflowAction, WorkflowConfig
from alertd.log import get_logger
from alertd.mapping import Document, compile_condition
from alertd.timeline import AlertEvent, add_event
from alertd.workflow_templates import render_json, render_text

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, RawConfig

log = get_logger("alertd.workflows")

WEBHOOK_PURPOSE = "workflow_webhook"
NOTICE_PURPOSE = "workflow"
MAX_TAGS = 100


def _action_event(
    db: Database, alert_id: int, name: str, action: str, index: int, outcome: str, now: float
) -> AlertEvent:
    """The timeline's word on one action of workflow ``name``: what it did, or why not."""
    return add_event(
        db,
        alert_id,
        "workflow_action",
        actor_of(name),
        "workflow",
        now,
        workflow=name,
        action=action,
        index=index,
        outcome=outcome,
    )


def actor_of(name: str) -> str:
    return f"workflow:{name}"


# --- pure decisions ------------------------------------------------------------------------


def in_window(window: TimeWindow, at: float) -> bool:
    """Whether ``at`` falls in the window's days and hours (its zone); an end at or before the
    start runs past midnight into the next day (which need not be listed)."""
    local = datetime.fromtimestamp(at, ZoneInfo(window.timezone))
    day, now = WEEKDAYS[local.weekday()], local.time()
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    start, end = window.start, window.end
    if end == time(0) or start < end:
        return day in window.days and start <= now and (end == time(0) or now < end)
    return (day in window.days and now >= start) or (yesterday in window.days and now < end)


def alert_data(db: Database, alert: dict[str, Any]) -> dict[str, Any]:
    """What conditions and templates see: the alert's columns, and ``source``, the last message
    received for it (parsed JSON when it is JSON; SNS's ``Message`` is parsed on the way down)."""
    data = {k: v for k, v in alert.items() if k not in ("first_inbound_id", "last_inbound_id")}
    source: Any = None
    if alert.get("last_inbound_id") is not None:
        row = db.execute("SELECT body FROM inbound_log WHERE id = ?", [alert["last_inbound_id"]]).fetchone()
        if row is not None:
            from alertd import jsonlimits

            try:
                source = jsonlimits.loads(bytes(row[0]))
            except ValueError:
                source = bytes(row[0]).decode("utf-8", "replace")
    data["source"] = source
    return data


def check_conditions(workflow: WorkflowConfig, data: dict[str, Any], at: float) -> list[tuple[str, bool]]:
    """(condition, held) for ``when`` and ``during``; the workflow runs when all held."""
    checks: list[tuple[str, bool]] = []
    if workflow.when is not None:
        checks.append(("when", compile_condition(workflow.when, ("when",))(Document(data))))
    if workflow.during is not None:
        w = workflow.during
        hours = f"{w.start:%H:%M}-{w.end:%H:%M}"
        checks.append((f"during {','.join(w.days)} {hours} {w.timezone}", in_window(w, at)))
    return checks


def still_due(trigger: str, alert: dict[str, Any], ref: str, acknowledged_ever: bool) -> bool:
    """Whether a time trigger's alert is still in the state the trigger speaks of."""
    if trigger == "not_acknowledged":
        return alert["status"] == "open" and not acknowledged_ever
    if trigger == "open_longer_than":
        return alert["status"] != "closed"
    if trigger == "not_closed_after_ack":
        return alert["status"] == "acknowledged" and ref == f"ack:{alert['acknowledged_at']!r}"
    return False


def recipients(raw: RawConfig, action: WorkflowAction, at: float) -> list[str]:
    """The users a notice reaches: named, groups' members, whoever is on call in the schedules."""
    from alertd.oncall import on_call_at

    users: list[str] = []
    for user in action.users:
        users.append(user)
    for group in action.groups:
        users += raw.groups[group].members if group in raw.groups else []
    for name in action.schedules:
        if name in raw.schedules:
            shift = on_call_at(raw.schedules[name], datetime.fromtimestamp(at, UTC))
            if shift is not None:
                users.append(shift.user)
    return [u for u in dict.fromkeys(users) if u in raw.users]


def notice_methods(config: Config, action: WorkflowAction, user: str) -> list[str]:
    """How a notice reaches a user: with ``methods``, the first of them the user has a contact for
    and a channel serves (an SMS, else an email), or the first they have a contact for (it fails,
    recorded) when no channel serves any; without, the user's notification rules, all at once."""
    cfg = config.raw.users[user]
    if not action.methods:
        return list(dict.fromkeys(step.method for step in cfg.notify_steps()))
    have = [m for m in action.methods if m in cfg.contact]
    served = [m for m in have if m in config.channel_for_kind]
    return (served or have or list(action.methods))[:1]


def template_vars(name: str, data: dict[str, Any], trigger: dict[str, Any], at: float) -> dict[str, Any]:
    return {
        "alert": data,
        "workflow": name,
        "trigger": trigger,
        "now": datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds"),
    }


def default_webhook_body(name: str, data: dict[str, Any], trigger: dict[str, Any]) -> str:
    keys = ("id", "integration", "source_id", "status", "title", "description", "severity", "url", "tags", "fields")
    return json.dumps(
        {"workflow": name, "trigger": trigger, "alert": {k: data.get(k) for k in keys}},
        default=str,
        ensure_ascii=False,
    )


def summary(action: WorkflowAction) -> str:
    """An action in words (``alertd workflows``, dry runs)."""
    a = action
    if a.action == "notify":
        who = [*a.users, *(f"group:{g}" for g in a.groups), *(f"schedule:{s}" for s in a.schedules), *a.emails]
        how = f" by {', '.join(a.methods)}" if a.methods else ""
        return f"notify {', '.join(who)}{how}"
    if a.action == "webhook":
        # The host only: a chat webhook's path is often its secret.
        return f"POST {(a.url or '').split('/')[2]}/..."
    details = {
        "set_severity": f"severity {a.severity}",
        "add_tags": f"tags {', '.join(a.tags)}",
        "set_field": f"field {a.field}",
        "escalate": f"level {a.level}" if a.level else "next level",
        "reassign": f"policy {a.policy}",
        "snooze": f"{a.minutes:g} min" if a.minutes else "",
    }
    text = details.get(a.action, "")
    return f"{a.action} {text}".strip()


# --- applying them (inside a writer transaction) -------------------------------------------


def queue_notice(
    db: Database,
    name: str,
    trigger_key: str,
    index: int,
    alert_id: int | None,
    user: str,
    method: str,
    address: str,
    payload: str,
    now: float,
) -> int:
    """One notice of workflow ``name`` in the outbox (1 if queued). The key makes a run that is
    retried after a crash queue it once; alert-less notices (schedule handoffs) pass ``alert_id=None``."""
    return int(
        outbox.enqueue(
            db,
            alert_id=alert_id,
            user=user,
            kind=method,
            address=address,
            purpose=NOTICE_PURPOSE,
            step=f"workflow:{name}",
            key=f"workflow:{name}:{trigger_key}:{index}:{user}:{method}",
            not_before=now,
            now=now,
            payload=payload,
        )
    )


def queue_webhook(
    db: Database, name: str, trigger_key: str, index: int, alert_id: int | None, url: str, body: str, now: float
) -> int:
    """One signed webhook POST of workflow ``name`` in the outbox, retried there like any send."""
    return int(
        outbox.enqueue(
            db,
            alert_id=alert_id,
            user=actor_of(name),
            kind="webhook",
            address=url,
            purpose=WEBHOOK_PURPOSE,
            step=f"{name}:{index}",
            key=f"webhook:{name}:{trigger_key}:{index}",
            not_before=now,
            now=now,
            payload=body,
        )
    )


def _perform(
    db: Database,
    config: Config,
    name: str,
    index: int,
    action: WorkflowAction,
    alert: dict[str, Any],
    trigger_key: str,
    variables: dict[str, Any],
    now: float,
) -> tuple[str, list[AlertEvent]]:
    """Carry out one action; (its outcome in words, the events it wrote)."""
    raw = config.raw
    alert_id, who, via = alert["id"], actor_of(name), "workflow"
    kind = action.action
    if kind == "notify":
        message = render_text(action.message, variables) if action.message else ""
        payload = json.dumps({"message": message})
        queued, missing = 0, []
        for user in recipients(raw, action, now):
            cfg = raw.users[user]
            for method in notice_methods(config, action, user):
                address = cfg.contact.get(method)  # type: ignore[call-overload]
                if address is None:
                    missing.append(f"{user} has no {method} contact")
                    continue
                queued += queue_notice(db, name, trigger_key, index, alert_id, user, method, address, payload, now)
        for address in action.emails:
            queued += queue_notice(db, name, trigger_key, index, alert_id, address, "email", address, payload, now)
        return f"queued {queued} notice(s)" + (f"; {'; '.join(missing)}" if missing else ""), []
    if kind == "webhook":
        assert action.url is not None
        data = variables["alert"]
        body = (
            render_json(action.body, variables)
            if action.body
            else default_webhook_body(name, data, variables["trigger"])
        )
        queue_webhook(db, name, trigger_key, index, alert_id, action.url, body, now)
        return f"queued POST to {action.url.split('/')[2]}", []
    if kind == "set_severity":
        db.execute("UPDATE alerts SET severity = ?, updated_at = ? WHERE id = ?", [action.severity, now, alert_id])
        return f"severity {alert['severity']} -> {action.severity}", []
    if kind == "add_tags":
        tags = list(dict.fromkeys([*alert["tags"], *action.tags]))[:MAX_TAGS]
        db.execute("UPDATE alerts SET tags = ?, updated_at = ? WHERE id = ?", [json.dumps(tags), now, alert_id])
        return f"tags {', '.join(action.tags)} added", []
    if kind == "set_field":
        assert action.field is not None and action.value is not None
        fields = dict(alert["fields"])
        fields[action.field] = render_text(action.value, variables)[:2000]
        db.execute("UPDATE alerts SET fields = ?, updated_at = ? WHERE id = ?", [json.dumps(fields), now, alert_id])
        return f"field {action.field} set", []
    if kind == "escalate":
        return "escalated", alert_actions.escalate(db, raw, alert_id, who, via, now, level=action.level)
    if kind == "reassign":
        assert action.policy is not None
        return f"reassigned to {action.policy}", alert_actions.reassign(db, raw, alert_id, action.policy, who, via, now)
    if kind == "ack":
        return "acknowledged", apply.acknowledge(db, alert_id, who, via, now)
    if kind == "close":
        return "closed", apply.close(db, alert_id, who, via, now)
    if kind == "snooze":
        assert action.minutes is not None
        return f"snoozed {action.minutes:g} min", alert_actions.snooze(db, alert_id, action.minutes * 60, who, via, now)
    if kind == "unack":
        return "un-acknowledged", alert_actions.unacknowledge(db, alert_id, who, via, now)
    if kind == "reopen":
        return "reopened", alert_actions.reopen(db, alert_id, who, via, now)
    assert kind == "note" and action.message is not None
    return "note added", alert_actions.add_note(db, alert_id, render_text(action.message, variables), who, via, now)


def run(
    db: Database,
    config: Config,
    name: str,
    workflow: WorkflowConfig,
    alert_id: int,
    trigger_key: str,
    trigger: dict[str, Any],
    now: float,
) -> list[AlertEvent]:
    """Run one workflow for one trigger, at most once per (workflow, trigger_key)."""
    claimed = db.execute(
        "INSERT INTO workflow_runs (workflow, trigger_key, alert_id, at, matched) VALUES (?, ?, ?, ?, 0) "
        "ON CONFLICT DO NOTHING",
        [name, trigger_key, alert_id, now],
    )
    if claimed.rowcount != 1:
        return []  # ran before: this event was handed out again
    alert = alerts.get(db, alert_id)
    if alert is None:
        return []
    data = alert_data(db, alert)
    counted = (trigger.get("detail") or {}).get("append_count")
    if isinstance(counted, int):
        data["append_count"] = counted  # as of the repeat that triggered it, not of the latest
    checks = check_conditions(workflow, data, now)
    if not all(held for _c, held in checks):
        detail = {"conditions": dict(checks)}  # why it did not run, for people reading the table
        db.execute(
            "UPDATE workflow_runs SET detail = ? WHERE workflow = ? AND trigger_key = ?",
            [json.dumps(detail), name, trigger_key],
        )
        return []
    cap = config.raw.workflow_limits.max_actions_per_alert
    used = db.execute("SELECT COALESCE(SUM(actions), 0) FROM workflow_runs WHERE alert_id = ?", [alert_id]).fetchone()[
        0
    ]
    variables = template_vars(name, data, trigger, now)
    events: list[AlertEvent] = []
    done = 0
    for index, action in enumerate(workflow.actions):
        if used + done >= cap:
            outcome = f"not run: the alert reached workflow_limits.max_actions_per_alert ({cap})"
            events.append(_action_event(db, alert_id, name, action.action, index, outcome, now))
            break
        current = alerts.get(db, alert_id) or alert
        db.execute("SAVEPOINT workflow_action")
        try:
            outcome, caused = _perform(db, config, name, index, action, current, trigger_key, variables, now)
            db.execute("RELEASE workflow_action")
        except Exception as exc:  # one failing action is recorded; the next one runs
            db.execute("ROLLBACK TO workflow_action")
            db.execute("RELEASE workflow_action")
            outcome, caused = f"not done: {exc}"[:300], []
            if not isinstance(exc, alerts.AlertError | ValueError):
                log.error("workflow.action_failed", exc_info=True, workflow=name, alert_id=alert_id, index=index)
        events += caused
        events.append(_action_event(db, alert_id, name, action.action, index, outcome, now))
        done += 1
    db.execute(
        "UPDATE workflow_runs SET matched = 1, actions = ? WHERE workflow = ? AND trigger_key = ?",
        [done, name, trigger_key],
    )
    return events


def arm_timers(db: Database, config: Config, event: AlertEvent, now: float) -> bool:
    """Set the time triggers an event starts: after opening, after an acknowledgement."""
    armed = False
    for name, workflow in config.raw.workflows.items():
        if not workflow.enabled or workflow.trigger not in TIME_TRIGGERS or workflow.after_minutes is None:
            continue
        delay = workflow.after_minutes * 60
        if event.kind in ("opened", "reopened") and workflow.trigger != "not_closed_after_ack":
            ref = f"open:{event.at!r}"
        elif event.kind == "acknowledged" and workflow.trigger == "not_closed_after_ack":
            ref = f"ack:{event.at!r}"
        else:
            continue
        armed |= alert_timers.set_timer(db, event.alert_id, alert_timers.WORKFLOW, name, event.at + delay, ref, now)
    return armed


def relevant_kinds(raw: RawConfig) -> set[str]:
    """Event kinds a workflow listens to (the dispatcher skips the write for a batch of none)."""
    kinds: set[str] = set()
    for workflow in raw.workflows.values():
        if not workflow.enabled:
            continue
        if workflow.schedule is not None:
            continue  # schedule events: engine/handoffs.py
        if workflow.trigger == "not_closed_after_ack":
            kinds.add("acknowledged")
        elif workflow.trigger in TIME_TRIGGERS:
            kinds |= {"opened", "reopened"}
        else:
            kinds.add(workflow.trigger)
    return kinds


def handle_events(db: Database, config: Config, events: list[AlertEvent], now: float) -> bool:
    """The dispatcher's call for a batch: run event-triggered workflows, arm time triggers.
    True when a timer was armed (the escalation loop should look)."""
    armed = False
    for event in events:
        armed |= arm_timers(db, config, event, now)
        for name, workflow in config.raw.workflows.items():
            if not workflow.enabled or workflow.trigger != event.kind or event.actor == actor_of(name):
                continue
            trigger = {"kind": event.kind, "actor": event.actor, "via": event.via, "detail": event.detail}
            run(db, config, name, workflow, event.alert_id, f"event:{event.id}", trigger, now)
    return armed


def run_timer(db: Database, config: Config, timer: dict[str, Any], now: float) -> list[AlertEvent] | None:
    """A workflow timer fell due: run the workflow if its alert is still in the trigger's state;
    None (the timer is skipped) when it is not, or the workflow is gone or disabled."""
    workflow = config.raw.workflows.get(timer["name"])
    alert = alerts.get(db, timer["alert_id"])
    if workflow is None or not workflow.enabled or alert is None:
        return None
    acked = (
        db.execute(
            "SELECT 1 FROM alert_events WHERE alert_id = ? AND kind = 'acknowledged' LIMIT 1", [alert["id"]]
        ).fetchone()
        is not None
    )
    if not still_due(workflow.trigger, alert, timer["ref"], acked):
        return None
    trigger = {"kind": workflow.trigger, "after_minutes": workflow.after_minutes, "due": timer["due"]}
    return run(db, config, timer["name"], workflow, alert["id"], f"timer:{timer['id']}", trigger, now)


# --- reading ---------------------------------------------------------------------------------


def stats(db: Database) -> dict[str, dict[str, Any]]:
    """Per workflow: runs, matched runs, actions taken, last run time."""
    rows = db.execute(
        "SELECT workflow, COUNT(*), SUM(matched), SUM(actions), MAX(at) FROM workflow_runs GROUP BY workflow"
    ).fetchall()
    return {r[0]: {"runs": r[1], "matched": r[2] or 0, "actions": r[3] or 0, "last_run": r[4]} for r in rows}


def trigger_words(workflow: WorkflowConfig) -> str:
    """The trigger for people: "not_acknowledged after 5 min", "shift_start of schedule primary"."""
    words = workflow.trigger + (f" after {workflow.after_minutes:g} min" if workflow.after_minutes else "")
    return words + (f" of schedule {workflow.schedule}" if workflow.schedule is not None else "")


def listing(db: Database, raw: RawConfig) -> list[dict[str, Any]]:
    """Each configured workflow: trigger, conditions, actions, runs (matched), actions taken and
    the last run (``alertd workflows``, the console's Workflows page, ``GET /api/v1/workflows``)."""
    counts = stats(db)
    out = []
    for name, workflow in raw.workflows.items():
        seen = counts.get(name, {"runs": 0, "matched": 0, "actions": 0, "last_run": None})
        out.append(
            {
                "name": name,
                "enabled": workflow.enabled,
                "trigger": workflow.trigger,
                "after_minutes": workflow.after_minutes,
                "schedule": workflow.schedule,
                "trigger_words": trigger_words(workflow),
                "conditions": [c for c in ("when", "during") if getattr(workflow, c) is not None],
                "does": [summary(a) for a in workflow.actions],
                "runs": seen["runs"],
                "matched": seen["matched"],
                "actions_taken": seen["actions"],
                "last_run": seen["last_run"],
            }
        )
    return out


def dry_run(db: Database, config: Config, name: str, alert_id: int, now: float) -> dict[str, Any]:
    """What ``name`` would do for alert ``alert_id`` now, changing nothing."""
    workflow = config.raw.workflows[name]
    alert = alerts.get(db, alert_id)
    if alert is None:
        raise alerts.AlertError(f"no alert #{alert_id}")
    data = alert_data(db, alert)
    checks = check_conditions(workflow, data, now)
    out: dict[str, Any] = {
        "workflow": name,
        "trigger": workflow.trigger,
        "enabled": workflow.enabled,
        "alert": {"id": alert_id, "status": alert["status"], "title": alert["title"]},
        "conditions": [{"condition": c, "holds": held} for c, held in checks],
    }
    if workflow.trigger in TIME_TRIGGERS:
        acked = db.execute(
            "SELECT 1 FROM alert_events WHERE alert_id = ? AND kind = 'acknowledged' LIMIT 1", [alert_id]
        ).fetchone()
        ref = f"ack:{alert['acknowledged_at']!r}"
        held = still_due(workflow.trigger, alert, ref, acked is not None)
        out["conditions"].insert(0, {"condition": f"alert state for {workflow.trigger}", "holds": held})
    would = workflow.enabled and all(c["holds"] for c in out["conditions"])
    actions = []
    for action in workflow.actions:
        item = {"action": action.action, "summary": summary(action)}
        if action.action == "notify":
            item["recipients"] = recipients(config.raw, action, now) + list(action.emails)
        actions.append(item)
    out["would_run"] = would
    out["actions"] = actions
    return out
