"""Escalation: the persisted plan of each open alert (the loop that fires it: engine/escalation.py).

An escalation policy is an ordered list of levels; each level notifies users,
groups and schedules (whoever is on call when the level fires), then waits its
``delay_minutes`` before the next level. After the last level the policy starts
again from level 0, ``repeat`` more times. An empty level (nobody on call) is
skipped at once and recorded on the timeline.

The plan lives in the ``escalations`` table (next level, pass, due time): a
restart, even after SIGKILL, resumes it. Firing a step writes its outbox rows and
advances the plan in one transaction; the outbox rows carry an idempotency key
(alert, pass, level, user, method), so a replayed step queues nothing new. Delivery
itself is at-least-once: a kill between a provider's accept and the commit of the
result sends that notification again, with the same key (see outbox.py).

The decisions (what comes after a position, who a level reaches at time t) are
pure functions; ``fire_due`` applies them to the database; the loop that sleeps
until the earliest due time is ``alertd.engine.escalation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alertd import claims
from alertd.timeline import AlertEvent, add_event

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, EscalationPolicyConfig, LevelConfig, RawConfig


# --- pure decisions ----------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    level: int
    pass_: int


def advance(policy: EscalationPolicyConfig, pos: Position) -> Position | None:
    """The position after ``pos`` fired, or None when the policy is exhausted."""
    if pos.level + 1 < len(policy.levels):
        return Position(pos.level + 1, pos.pass_)
    if pos.pass_ < policy.repeat:
        return Position(0, pos.pass_ + 1)
    return None


@dataclass(frozen=True)
class Targets:
    users: tuple[str, ...]
    # How each user was reached: "user", "group:ops", "schedule:primary".
    via: dict[str, str]


def level_targets(raw: RawConfig, level: LevelConfig, at: datetime) -> Targets:
    """Who a level reaches at ``at``: its users, its groups' members, and each schedule's
    on-call user at that moment; each user once, in that order."""
    from alertd.oncall import on_call_at

    users: list[str] = []
    via: dict[str, str] = {}

    def add(user: str, how: str) -> None:
        if user not in via:
            users.append(user)
            via[user] = how

    for user in level.users:
        add(user, "user")
    for group in level.groups:
        for user in raw.groups[group].members:
            add(user, f"group:{group}")
    for name in level.schedules:
        shift = on_call_at(raw.schedules[name], at)
        if shift is not None:
            add(shift.user, f"schedule:{name}")
    return Targets(tuple(users), via)


# --- the plan in the database ------------------------------------------------------------


def start(db: Database, alert_id: int, policy: str, now: float) -> None:
    db.execute(
        "INSERT INTO escalations (alert_id, policy, level, pass, next_due, state, updated_at) "
        "VALUES (?, ?, 0, 0, ?, 'active', ?)",
        [alert_id, policy, now, now],
    )


def restart(db: Database, alert_id: int, policy: str, now: float, level: int = 0, pass_: int = 0) -> None:
    """(Re)start the plan at ``level`` now: after an un-acknowledge, a snooze's end, an escalate-now
    or a switch of policy."""
    db.execute(
        "INSERT INTO escalations (alert_id, policy, level, pass, next_due, state, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'active', ?) ON CONFLICT (alert_id) DO UPDATE SET policy = excluded.policy, "
        "level = excluded.level, pass = excluded.pass, next_due = excluded.next_due, state = 'active', "
        "reason = NULL, updated_at = excluded.updated_at, round = escalations.round + 1",
        [alert_id, policy, level, pass_, now, now],
    )


def stop(db: Database, alert_id: int, now: float, reason: str) -> None:
    """Stop the plan and cancel what it queued that has not gone out yet."""
    from alertd import outbox

    db.execute(
        "UPDATE escalations SET state = 'stopped', next_due = NULL, reason = ?, updated_at = ? "
        "WHERE alert_id = ? AND state = 'active'",
        [reason, now, alert_id],
    )
    outbox.cancel_pending(db, alert_id, f"alert {reason}", now)


def plan(db: Database, alert_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM escalations WHERE alert_id = ?", [alert_id]).fetchone()
    return None if row is None else dict(row)


def next_due(db: Database) -> float | None:
    row = db.execute("SELECT MIN(next_due) FROM escalations WHERE state = 'active'").fetchone()
    return row[0]


def fire_due(db: Database, config: Config, now: float, limit: int = 200) -> tuple[list[AlertEvent], int]:
    """Fire every step due at ``now``; return the timeline events and how many notifications
    were queued. Runs inside one writer transaction."""
    from alertd import outbox

    raw = config.raw
    events: list[AlertEvent] = []
    queued = 0
    rows = db.execute(
        claims.due_rows(
            "SELECT alert_id, policy, level, pass, round FROM escalations "
            "WHERE state = 'active' AND next_due <= ? ORDER BY next_due LIMIT ?"
        ),
        [now, limit],
    ).fetchall()
    at = datetime.fromtimestamp(now, UTC)
    for alert_id, policy_name, level, pass_, round_ in rows:
        policy = raw.escalation_policies.get(policy_name)
        if policy is None:
            db.execute(
                "UPDATE escalations SET state = 'stopped', next_due = NULL, reason = ?, updated_at = ? "
                "WHERE alert_id = ?",
                [f"policy {policy_name!r} no longer exists", now, alert_id],
            )
            events.append(
                add_event(
                    db,
                    alert_id,
                    "escalation_stopped",
                    "escalation",
                    "engine",
                    now,
                    reason=f"policy {policy_name!r} no longer exists",
                )
            )
            continue
        pos: Position | None = Position(min(level, len(policy.levels) - 1), pass_)
        due: float | None = None
        # Empty levels are skipped at once; stop at the first level that reaches someone.
        while pos is not None:
            level_cfg = policy.levels[pos.level]
            targets = level_targets(raw, level_cfg, at)
            if not targets.users:
                # Nobody in the policy to page: the alert's owners (its recipients) are, if it has any.
                from alertd.routing import owners

                users, via = owners(db, raw, alert_id, now)
                targets = Targets(tuple(users), via)
            # A restarted plan (un-acknowledged, escalated now, reassigned) pages anew: its own keys.
            step = f"{pos.pass_}:{pos.level}" if not round_ else f"r{round_}.{pos.pass_}:{pos.level}"
            if not targets.users:
                events.append(
                    add_event(
                        db,
                        alert_id,
                        "level_skipped",
                        "escalation",
                        "engine",
                        now,
                        level=pos.level,
                        pass_number=pos.pass_,
                        reason="nobody to notify",
                    )
                )
                pos = advance(policy, pos)
                continue
            for user in targets.users:
                queued += outbox.enqueue_for_user(db, raw, alert_id, user, step, now)
            events.append(
                add_event(
                    db,
                    alert_id,
                    "escalated",
                    "escalation",
                    "engine",
                    now,
                    level=pos.level,
                    pass_number=pos.pass_,
                    users=list(targets.users),
                    via=targets.via,
                )
            )
            due = now + level_cfg.delay_minutes * 60
            pos = advance(policy, pos)
            break
        if pos is None:
            db.execute(
                "UPDATE escalations SET state = 'finished', next_due = NULL, reason = 'policy exhausted', "
                "updated_at = ? WHERE alert_id = ?",
                [now, alert_id],
            )
            # An active plan means nobody acknowledged: the last page went out, nobody answered.
            events.append(
                add_event(
                    db,
                    alert_id,
                    "escalation_exhausted",
                    "escalation",
                    "engine",
                    now,
                    policy=policy_name,
                    passes=policy.repeat + 1,
                )
            )
        else:
            db.execute(
                "UPDATE escalations SET level = ?, pass = ?, next_due = ?, updated_at = ? WHERE alert_id = ?",
                [pos.level, pos.pass_, due if due is not None else now, now, alert_id],
            )
    return events, queued
