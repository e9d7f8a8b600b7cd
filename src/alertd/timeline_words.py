"""An alert's timeline in words, for people (``alertd alerts show``).

Pure functions of the stored events: ``describe(events)`` turns rows such as
``escalated {level: 0, users: [erik], via: {erik: schedule:secops-weekly}}`` and
``notified {kind: email, step: 0:0}`` into "paged erik by email (on call in
secops-weekly)". Runs of repeats are collapsed into one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# How a user came to be paged (escalation.Targets.via) -> words.
_HOW = {"user": "named in the policy", "group": "member of {}", "schedule": "on call in {}"}
# Who acted, by channel of a command -> words.
_VIA = {
    "cli": "on the command line",
    "api": "through the API",
    "link": "with a signed link",
    "web": "in the web console",
    "sms": "by SMS reply",
    "voice": "on a phone call",
    "email": "by email reply",
    "push": "from a push notification",
}


def how_reached(via: str) -> str:
    kind, _, name = via.partition(":")
    if kind == "owner":  # an owner of the alert (its recipients), maybe through a group or schedule
        return "owner of the alert" + (f", {how_reached(name)}" if name else "")
    template = _HOW.get(kind)
    return template.format(name) if template else via


def _by(event: dict[str, Any]) -> str:
    actor, via = event.get("actor") or "?", event.get("via") or ""
    if via in ("source", "rule"):
        return f"by {actor} (its source{' rule' if via == 'rule' else ''})"
    return f"by {actor} {_VIA.get(via, f'via {via}')}".rstrip()


def _inbound(detail: dict[str, Any]) -> str:
    return f" (inbound #{detail['inbound_id']})" if detail.get("inbound_id") else ""


def _window(detail: dict[str, Any]) -> str:
    name = detail.get("window")
    return f"#{detail.get('window_id')}" + (f" ({name})" if name else "")


def _level(detail: dict[str, Any]) -> str:
    level = detail.get("level")
    text = f"level {int(level) + 1}" if isinstance(level, int) else "a level"
    pass_number = detail.get("pass_number")
    return text + (f" (repeat {pass_number})" if isinstance(pass_number, int) and pass_number > 0 else "")


def _paged_how(escalations: dict[str, dict[str, str]], step: str, user: str) -> str:
    how = escalations.get(step, {}).get(user)
    return f" ({how_reached(how)})" if how else ""


def describe_one(event: dict[str, Any], escalations: dict[str, dict[str, str]]) -> str:
    """One event as a sentence; ``escalations`` maps step -> user -> how reached, from earlier events."""
    kind, detail, actor = event["kind"], event.get("detail") or {}, event.get("actor") or "?"
    if kind == "opened":
        return f"opened from {actor}{_inbound(detail)}"
    if kind == "reopened":
        previous = detail.get("previous_alert_id")
        return f"opened again from {actor}, after #{previous} closed{_inbound(detail)}"
    if kind == "appended":
        return f"fired again at {actor}{_inbound(detail)}"
    if kind == "acknowledged":
        return f"acknowledged {_by(event)}"
    if kind == "ack_repeated":
        return f"acknowledged again {_by(event)}"
    if kind == "closed":
        return f"closed {_by(event)}"
    if kind == "escalated":
        users = detail.get("users") or []
        how = detail.get("via") or {}
        who = ", ".join(f"{u} ({how_reached(how[u])})" if u in how else str(u) for u in users)
        return f"escalated to {_level(detail)}: {who or 'nobody'}"
    if kind == "owners_paged":
        users, how = detail.get("users") or [], detail.get("via") or {}
        who = ", ".join(f"{u} ({how_reached(how[u])})" if u in how else str(u) for u in users)
        return f"no escalation policy: paged its owners {who or 'nobody'}"
    if kind == "level_skipped":
        return f"skipped {_level(detail)}: {detail.get('reason') or 'nobody to notify'}"
    if kind == "escalation_stopped":
        return f"escalation stopped: {detail.get('reason') or 'no reason given'}"
    if kind == "notified":
        method = detail.get("kind") or event.get("via") or "?"
        if detail.get("purpose") == "closed":
            return f"told {actor} by {method} that it is closed"
        return f"paged {actor} by {method}{_paged_how(escalations, str(detail.get('step')), actor)}"
    if kind == "notification_failed":
        attempts = detail.get("attempts")
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if isinstance(attempts, int) else ""
        return f"could not reach {actor} by {detail.get('kind') or '?'}{tries}: {detail.get('error') or 'failed'}"
    if kind == "escalation_exhausted":
        passes = detail.get("passes")
        times = f" ({passes} pass{'es' if passes != 1 else ''})" if isinstance(passes, int) else ""
        return f"last level reached{times}: the policy pages nobody more"
    if kind == "notification_retry_scheduled":
        attempt = detail.get("attempt")
        tries = f" after attempt {attempt}" if isinstance(attempt, int) else ""
        return f"will try {actor} by {detail.get('kind') or '?'} again{tries}: {detail.get('error') or 'failed'}"
    if kind == "notification_delivered":
        return f"{detail.get('kind') or event.get('via') or '?'} to {actor} delivered (the provider reported it)"
    if kind == "notification_failover":
        return f"trying {detail.get('user', actor)} by {detail.get('next')} instead of {detail.get('failed')}"
    if kind == "notification_exhausted":
        return f"gave up on {detail.get('user', actor)}: {detail.get('reason') or 'no contact method left'}"
    if kind == "maintenance_suppressed":
        return f"not paged: maintenance window {_window(detail)} until its end"
    if kind == "maintenance_ended":
        if detail.get("on_end") == "held":  # another window still applies to the alert
            held = {"window_id": detail.get("held_by"), "window": detail.get("held_by_name")}
            return f"maintenance window {_window(detail)} ended: still held by window {_window(held)}"
        then = "paging starts now" if detail.get("on_end") == "page" else "left quiet (not paged)"
        return f"maintenance window {_window(detail)} ended: {then}"
    if kind == "snoozed":
        minutes = detail.get("minutes")
        length = f" for {minutes:g} minutes" if isinstance(minutes, int | float) else ""
        return f"snoozed{length} {_by(event)}"
    if kind == "unacknowledged":
        reason = f" ({detail['reason']})" if detail.get("reason") else ""
        return f"open again {_by(event)}{reason}"
    if kind == "escalation_requested":
        return f"escalation to {_level(detail)} requested {_by(event)}"
    if kind == "reassigned":
        return f"reassigned to policy {detail.get('policy')} (was {detail.get('previous') or 'none'}) {_by(event)}"
    if kind == "note_added":
        return f"note {_by(event)}: {detail.get('text', '')}"
    if kind == "merged":
        return f"merged into #{detail.get('into')} {_by(event)}"
    if kind == "duplicate_merged":
        return f"#{detail.get('duplicate')} merged into this alert {_by(event)}"
    if kind == "workflow_action":
        return f"workflow {detail.get('workflow')}: {detail.get('action')}: {detail.get('outcome')}"
    # A kind this module does not know yet (a plugin's, a newer version's): still readable.
    extras = ", ".join(f"{k} {v}" for k, v in detail.items() if v not in (None, "", [], {}))
    return f"{kind.replace('_', ' ')} {_by(event)}" + (f" ({extras})" if extras else "")


def describe(events: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(event, sentence) for each line of the timeline; consecutive repeats share one line."""
    escalations: dict[str, dict[str, str]] = {}
    out: list[tuple[dict[str, Any], str]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) == 1:
            out.append((run[0], describe_one(run[0], escalations)))
        elif run:
            first, last = run[0]["detail"].get("inbound_id"), run[-1]["detail"].get("inbound_id")
            span = f" (inbound #{first} to #{last})" if first and last else ""
            out.append((run[0], f"fired again {len(run)} times at {run[0].get('actor')}{span}"))
        run.clear()

    for event in events:
        if event["kind"] == "appended" and (not run or run[0].get("actor") == event.get("actor")):
            run.append(event)
            continue
        flush()
        if event["kind"] == "appended":
            run.append(event)
            continue
        if event["kind"] == "escalated":
            level, pass_number = event["detail"].get("level"), event["detail"].get("pass_number")
            escalations[f"{pass_number}:{level}"] = dict(event["detail"].get("via") or {})
        out.append((event, describe_one(event, escalations)))
    flush()
    return out
