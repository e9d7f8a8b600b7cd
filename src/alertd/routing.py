"""Routing and assignment: which escalation policy pages for a message, and who owns its alert.

An integration's ``routes`` (``[[integrations.NAME.routes]]``) are tried in order: the first
whose ``when`` (the mapping rules' condition language, over the message) holds gives the
escalation policy and, optionally, the recipients; none matching, the integration's own
``escalation_policy`` and ``recipients`` apply. The choice is made off the writer with the
rules (``receive.Placement``) and stored on the alert (``alerts.route``, ``alerts.recipients``).

Recipients (``"alice"``, ``"group:security"``, ``"schedule:primary"``) are the alert's owners:
shown with it, paged when its policy has nobody to page (no policy at all, or a level that
reaches nobody), and told when the source closes it if the integration has ``notify_on_close``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alertd.timeline import AlertEvent, add_event
from alertd.weekdays import WEEKDAYS

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, IntegrationConfig, RawConfig
    from alertd.config.models import DuringConfig

DEFAULT_ROUTE = "default"


@dataclass(frozen=True)
class Route:
    """The route a message took: its name (``routes[0]`` when unnamed; ``default``), policy, owners."""

    name: str
    policy: str | None
    recipients: tuple[str, ...]


# --- pure decisions ----------------------------------------------------------------------


def within(during: DuringConfig, at: datetime) -> bool:
    """Whether ``at`` falls in the days and hours of ``during`` (local time of its zone). Hours that
    cross midnight belong to the day they start on; start = end means the whole day."""
    local = at.astimezone(ZoneInfo(during.timezone))
    day, now = WEEKDAYS[local.weekday()], local.time()
    if during.start == during.end:
        return day in during.days
    if during.start < during.end:
        return day in during.days and during.start <= now < during.end
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    return (day in during.days and now >= during.start) or (yesterday in during.days and now < during.end)


def choose(cfg: IntegrationConfig, document: Any, at: datetime) -> Route:
    """The first route whose ``when`` holds for the message and whose ``during`` holds at ``at``,
    else the integration's own settings."""
    if cfg.routes:  # (an import statement costs some 2 µs per message: only where there are routes)
        from alertd.mapping import matches_condition  # the rule compiler: only where a message is routed

    for i, route in enumerate(cfg.routes):
        if (route.during is None or within(route.during, at)) and matches_condition(route.when, document):
            return Route(
                route.name or f"routes[{i}]",
                route.escalation_policy or cfg.escalation_policy,
                tuple(cfg.recipients if route.recipients is None else route.recipients),
            )
    return Route(DEFAULT_ROUTE, cfg.escalation_policy, tuple(cfg.recipients))


def may_start_plan(cfg: IntegrationConfig) -> bool:
    """Whether an alert this integration opens can get an escalation plan: ``choose`` gives a
    policy only from the integration's own ``escalation_policy`` or a route's."""
    return cfg.escalation_policy is not None or any(route.escalation_policy for route in cfg.routes)


def resolve(raw: RawConfig, recipients: list[str] | tuple[str, ...], at: datetime) -> tuple[list[str], dict[str, str]]:
    """The users that ``recipients`` name at ``at`` (group members, whoever is on call in a
    schedule), each once, and how each was reached (``owner``, ``owner:group:ops`` ...)."""
    from alertd.oncall import on_call_at

    users: list[str] = []
    via: dict[str, str] = {}

    def add(user: str, how: str) -> None:
        if user in raw.users and user not in via:
            users.append(user)
            via[user] = how

    for recipient in recipients:
        kind, _, name = recipient.partition(":")
        if not name:
            add(recipient, "owner")
        elif kind == "group" and name in raw.groups:
            for member in raw.groups[name].members:
                add(member, f"owner:{recipient}")
        elif kind == "schedule" and name in raw.schedules:
            shift = on_call_at(raw.schedules[name], at)
            if shift is not None:
                add(shift.user, f"owner:{recipient}")
    return users, via


# --- the alert's owners in the database ------------------------------------------------------


def assign(db: Database, alert_id: int, route: Route) -> None:
    db.execute(
        "UPDATE alerts SET route = ?, recipients = ? WHERE id = ?",
        [route.name, json.dumps(list(route.recipients)), alert_id],
    )


def owners(db: Database, raw: RawConfig, alert_id: int, now: float) -> tuple[list[str], dict[str, str]]:
    row = db.execute("SELECT recipients FROM alerts WHERE id = ?", [alert_id]).fetchone()
    recipients = json.loads(row[0]) if row is not None and row[0] else []
    return resolve(raw, recipients, datetime.fromtimestamp(now, UTC))


def page_owners(db: Database, raw: RawConfig, alert_id: int, now: float) -> tuple[list[AlertEvent], int]:
    """An alert opened with no escalation policy: its owners are paged once, at once."""
    from alertd import outbox

    users, via = owners(db, raw, alert_id, now)
    if not users:
        return [], 0
    queued = sum(outbox.enqueue_for_user(db, raw, alert_id, user, "owners", now) for user in users)
    return [add_event(db, alert_id, "owners_paged", "escalation", "engine", now, users=users, via=via)], queued


def owner_closure_notices(db: Database, config: Config, alert_id: int, now: float) -> int:
    """Tell the owners that the source closed the alert, on their immediate contact methods (the
    same idempotency keys as closure notices to those paged: nobody is told twice)."""
    from alertd import outbox

    raw = config.raw
    users, _via = owners(db, raw, alert_id, now)
    count = 0
    for user in users:
        cfg = raw.users[user]
        for step in cfg.notify_steps():
            address = cfg.contact.get(step.method)
            if address is None or step.after_minutes > 0 or not config.sends_closure_notices(step.method):
                continue
            count += outbox.enqueue(
                db,
                alert_id=alert_id,
                user=user,
                kind=step.method,
                address=address,
                purpose="closed",
                step="closed",
                key=f"closed:{alert_id}:{user}:{step.method}",
                not_before=now,
                now=now,
            )
    return count
