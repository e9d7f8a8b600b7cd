"""Read models of what the config names: who is on call, a schedule's shifts, escalation
policies, users. One per entity, shared by the console and /api/v1 (pure: config and time in,
plain dicts out; times as unix seconds in ``*_at`` keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alertd import oncall


def mask(address: str) -> str:
    """A contact address with most of it hidden: a***@example.com, +4*******89."""
    address = str(address)
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) <= 4:
        return "*" * len(address)
    return address[:2] + "*" * (len(address) - 4) + address[-2:]


def level_words(level: Any) -> str:
    """An escalation level for people: "erik, members of ops, on call in primary; then 10 min"."""
    who = [*level.users, *(f"members of {g}" for g in level.groups), *(f"on call in {s}" for s in level.schedules)]
    return f"{', '.join(who) or 'nobody'}; {level.delay_minutes:g} min to the next level"


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def on_call(raw: Any, at: datetime, only: str | None = None) -> list[dict[str, Any]]:
    """Each schedule (or ``only`` that one): who is on call at ``at``, put there by which layer or
    override, since and until when; when nobody is, the next change (``alertd oncall``, the
    console's On call page, ``GET /api/v1/oncall``)."""
    out = []
    # ``only``: looked up, not searched for (`alertd oncall` asks for each of 1,000 schedules in turn).
    names = list(raw.schedules) if only is None else [only] if only in raw.schedules else []
    for name in names:
        schedule = raw.schedules[name]
        shift = oncall.on_call_at(schedule, at)
        out.append(
            {
                "name": name,
                "timezone": schedule.timezone,
                "user": shift.user if shift else None,
                "source": shift.source if shift else None,
                "starts_at": _ts(shift.start) if shift else None,
                "ends_at": _ts(shift.end) if shift else None,
                # The answer holds until it changes: a shift's end is next_change's answer.
                "next_change_at": _ts(shift.end if shift else oncall.next_change(schedule, at)),
            }
        )
    return out


def schedule_plan(name: str, schedule: Any, start: datetime, end: datetime) -> dict[str, Any]:
    """A schedule's layers and overrides, named as its shifts' ``source``, and its shifts in [start, end)."""
    return {
        "name": name,
        "timezone": schedule.timezone,
        "layers": [
            {
                "source": oncall.layer_source(i, layer),
                "name": layer.name,
                "users": list(layer.users),
                "shift": layer.shift,
                "handoff": layer.handoff.isoformat("minutes"),
                "restrictions": [
                    {"days": list(r.days), "start": r.start.isoformat("minutes"), "end": r.end.isoformat("minutes")}
                    for r in layer.restrictions
                ],
            }
            for i, layer in enumerate(schedule.layers)
        ],
        "overrides": [
            {
                "source": oncall.override_source(i),
                "user": o.user,
                "starts_at": _instant(o.start, schedule.timezone),
                "ends_at": _instant(o.end, schedule.timezone),
            }
            for i, o in enumerate(schedule.overrides)
        ],
        "shifts": [
            {"user": s.user, "source": s.source, "starts_at": _ts(s.start), "ends_at": _ts(s.end)}
            for s in oncall.shifts_between(schedule, start, end)
        ],
    }


def _instant(value: datetime, zone: str) -> float:
    # An override without an offset is in the schedule's zone (as oncall reads it).
    from zoneinfo import ZoneInfo

    return (value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(zone))).timestamp()


def policies(raw: Any) -> list[dict[str, Any]]:
    """Each escalation policy: its levels (who, and the delay to the next) and repeats."""
    return [
        {
            "name": name,
            "repeat": policy.repeat,
            "levels": [
                {
                    "level": number,
                    "users": list(level.users),
                    "groups": list(level.groups),
                    "schedules": list(level.schedules),
                    "delay_minutes": level.delay_minutes,
                    "words": level_words(level),
                }
                for number, level in enumerate(policy.levels, 1)
            ],
        }
        for name, policy in raw.escalation_policies.items()
    ]


def users(raw: Any) -> list[dict[str, Any]]:
    """Each user with contact addresses masked and notification rules; never a password (those
    live in the database, not here) nor a full address."""
    groups: dict[str, list[str]] = {}
    for group, cfg in raw.groups.items():
        for member in cfg.members:
            groups.setdefault(member, []).append(group)
    return [
        {
            "name": name,
            "full_name": user.full_name,
            "timezone": user.timezone,
            "admin": user.admin,
            "contact": [{"kind": kind, "address": mask(address)} for kind, address in user.contact.items()],
            "notify": [{"method": s.method, "after_minutes": s.after_minutes} for s in user.notify_steps()],
            "groups": groups.get(name, []),
        }
        for name, user in raw.users.items()
    ]
