"""What the CLI prints for people: alerts and the inbound log as tables and readable details.

Pure functions from rows (as the store returns them) to lines; every value that came
from outside goes through ``textout.visible`` so it cannot drive the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from alertd.textout import age, local_time, shorten, table, visible, visible_block, zone_abbreviation
from alertd.timeline_words import describe

WIDTH = 100


def alerts_table(rows: list[dict[str, Any]], zone: tzinfo, now: float) -> list[str]:
    """One line per alert under a header, at most WIDTH characters (the title is shortened)."""
    if not rows:
        return ["no alerts"]
    body = []
    for r in rows:
        title = r["title"] + (f" (+{r['append_count']})" if r["append_count"] else "")
        body.append(
            [
                f"#{r['id']}",
                r["status"],
                shorten(visible(r["severity"] or ""), 10),
                local_time(r["created_at"], zone, seconds=False, with_zone=False),
                age(now - r["created_at"]),
                # Capped so that the title always keeps room within WIDTH.
                shorten(visible(r["integration"]), 16),
                shorten(visible(r.get("acknowledged_by") or ""), 12),
                title,
            ]
        )
    header = ["ID", "STATUS", "SEVERITY", f"OPENED ({zone_abbreviation(zone, now)})", "AGE", "INTEGRATION", "ACK BY"]
    return table([*header, "TITLE"], body, width=WIDTH)


def alert_detail(data: dict[str, Any], zone: tzinfo) -> list[str]:
    """``alerts show``: the facts, the escalation plan, the timeline in words, the notifications."""
    v = visible
    lines = [f"#{data['id']} {v(data['title'])}"]
    facts: list[tuple[str, str]] = [
        ("status", data["status"]),
        ("severity", data.get("severity") or ""),
        ("source", " / ".join(v(data[k]) for k in ("integration", "source_id") if data.get(k))),
        ("opened", local_time(data["created_at"], zone)),
    ]
    if data.get("acknowledged_at"):
        facts.append(("acknowledged", f"{local_time(data['acknowledged_at'], zone)} by {v(data['acknowledged_by'])}"))
    if data.get("closed_at"):
        facts.append(("closed", f"{local_time(data['closed_at'], zone)} by {v(data['closed_by'])}"))
    if data.get("append_count"):
        facts.append(("fired again", f"{data['append_count']} time{'s' if data['append_count'] != 1 else ''}"))
    if data.get("previous_alert_id"):
        facts.append(("reopens", f"#{data['previous_alert_id']}"))
    if data.get("recipients"):
        facts.append(("owners", v(", ".join(data["recipients"]))))
    if data.get("route"):
        facts.append(("route", v(data["route"])))
    facts += [(k, v(data[k])) for k in ("description", "url") if data.get(k)]
    facts += [(v(key), v(value)) for key, value in (data.get("fields") or {}).items()]
    plan = data.get("escalation")
    if plan:
        facts.append(("escalation", _plan_words(plan, data.get("escalation_policy"), zone)))
    width = max(len(k) for k, _ in facts)
    lines += [f"  {k + ':':<{width + 1}} {val}" for k, val in facts if val]
    lines.append("")
    lines.append(f"timeline ({zone_abbreviation(zone, data['created_at'])}):")
    for event, sentence in describe(data.get("timeline") or []):
        lines.append(f"  {local_time(event['at'], zone, with_zone=False)}  {v(sentence)}")
    notifications = data.get("notifications") or []
    if notifications:
        lines.append("")
        lines.append("notifications:")
        rows = [
            [
                f"#{n['id']}",
                n["user"],
                n["kind"],
                "closure notice" if n.get("purpose") == "closed" else _step_words(n.get("step")),
                n["status"],
                str(n["attempts"]),
                n.get("last_error") or "",
            ]
            for n in notifications
        ]
        header = ["ID", "USER", "BY", "FOR", "STATUS", "TRIES", "LAST ERROR"]
        lines += ["  " + line for line in table(header, rows, width=WIDTH - 2)]
    return lines


def _step_words(step: Any) -> str:
    """``1:0`` (pass:level) -> ``level 1, repeat 1``."""
    match = re.fullmatch(r"(\d+):(\d+)", str(step or ""))
    if not match:
        return str(step or "")
    pass_number, level = int(match.group(1)), int(match.group(2))
    return f"level {level + 1}" + (f", repeat {pass_number}" if pass_number else "")


def _plan_words(plan: dict[str, Any], policy: str | None, zone: tzinfo) -> str:
    name = visible(plan.get("policy") or policy or "")
    state = plan.get("state")
    level = f"level {int(plan['level']) + 1}" + (f", repeat {plan['pass']}" if plan.get("pass") else "")
    if state == "active":
        due = f", next step {local_time(plan['next_due'], zone)}" if plan.get("next_due") else ""
        if not plan.get("next_due") and plan.get("reason"):  # held by a maintenance window
            due = f", {visible(plan['reason'])}"
        return f"{name}: at {level}{due}"
    reason = f" ({visible(plan['reason'])})" if plan.get("reason") else ""
    return f"{name}: {state}{reason}"


# --- the inbound log -------------------------------------------------------------------------


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def match_outcome(value: str, known: Iterable[str]) -> str:
    """The outcome ``value`` names, whatever its case or separators ('mapped-open' -> 'Mapped Open').
    ValueError listing the valid ones otherwise."""
    choices = sorted(set(known))
    for outcome in choices:
        if _squash(outcome) == _squash(value):
            return outcome
    raise ValueError(f"unknown outcome {value!r}; expected one of: {', '.join(choices)}")


def inbound_table(rows: list[dict[str, Any]], zone: tzinfo, now: float) -> list[str]:
    if not rows:
        return ["no inbound messages"]
    body = []
    for r in rows:
        # The message type only when it says more than the outcome (not "Subscription
        # Confirmation ... SubscriptionConfirmation"); the reason when there is one.
        detail = r.get("reason") or ""
        kind = r.get("message_type") or ""
        if kind and _squash(kind) != _squash(r["outcome"] or "") and kind != "Notification":
            detail = f"{kind}: {detail}" if detail else kind
        # First, so that shortening the column never hides them.
        if (r.get("repeat_count") or 1) > 1:  # requests to an unknown URL, counted per address and minute
            detail = f"({r['repeat_count']} requests) {detail}"
        if r.get("simulated"):
            detail = f"(simulated) {detail}"
        body.append(
            [
                f"#{r['id']}",
                local_time(r["received_at"], zone, with_zone=False),
                shorten(visible(r["integration"] or "(unknown URL)"), 16),
                str(r["status"]),
                shorten(visible(r["outcome"] or ""), 26),
                f"#{r['alert_id']}" if r.get("alert_id") else "",
                detail,
            ]
        )
    header = ["ID", f"RECEIVED ({zone_abbreviation(zone, now)})", "INTEGRATION", "HTTP", "OUTCOME", "ALERT", "DETAIL"]
    return table(header, body, width=WIDTH)


def inbound_detail(row: dict[str, Any], zone: tzinfo) -> list[str]:
    """``inbound-log show``: every field, the headers and the body, escapes made visible."""
    row = dict(row)
    body: bytes = row.pop("body") or b""
    headers: dict[str, str] = row.pop("headers") or {}
    decision = row.pop("decision")
    lines = []
    for key, value in row.items():
        if value is None or value == "":
            continue
        lines.append(f"{key}: {visible(local_time(value, zone) if key == 'received_at' else value)}")
    lines.append("headers:")
    lines += [f"    {visible(k)}: {visible(val)}" for k, val in headers.items()]
    if decision:
        lines.append("decision: " + visible(json.dumps(decision, ensure_ascii=False)))
    lines.append(f"body ({len(body)} bytes):")
    text = body.decode("utf-8", "replace")
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        pass
    lines.append(visible_block(text))
    return lines
