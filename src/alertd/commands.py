"""Commands on alerts from people (API, CLI, SMS, voice, signed links): acknowledge, close.

``apply_command`` runs inside a transaction (its timeline rows with it);
``run_alert_command`` submits it to the daemon's writer. What reacts to the change
(plugins, metrics, the loops) hears it from the event dispatcher after commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd import alerts, apply

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import RawConfig
    from alertd.runtime import Runtime

ACTIONS = ("ack", "close")
# SQLite integers are signed 64-bit: a larger alert id cannot exist (and would raise OverflowError).
MAX_ID = 2**63 - 1


def actor_problem(raw: RawConfig, user: str) -> str | None:
    """Why ``user`` may not act on alerts, or None when it is a configured user.

    People act only under a name in ``[users]``; tools that act without one are
    recorded under a name that cannot be a user's (``api:<token>``, ``cli:<login>``).
    """
    if user in raw.users:
        return None
    shown = user if len(user) <= 64 else user[:64] + "..."
    return f"user {shown!r} is not configured: only users listed under [users] may act on alerts"


class AlertCommandError(Exception):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def apply_command(
    db: Database, action: str, alert_id: int, actor: str, via: str, now: float, **detail: Any
) -> dict[str, Any]:
    """Acknowledge or close ``alert_id`` as ``actor`` (through alertd.apply); return the alert row
    after the change. AlertCommandError (with an HTTP-ish status) when it cannot be done."""
    if action not in ACTIONS:
        raise AlertCommandError(f"unknown action {action!r}", 400)
    if alerts.get(db, alert_id) is None:
        raise AlertCommandError(f"no alert #{alert_id}", 404)
    try:
        if action == "ack":
            apply.acknowledge(db, alert_id, actor, via, now, **detail)
        else:
            apply.close(db, alert_id, actor, via, now, **detail)
    except alerts.AlertError as exc:
        raise AlertCommandError(str(exc), 409) from None
    return alerts.get(db, alert_id) or {}


# Every action a person may take on an alert (CLI, API; SMS replies use ack, close, snooze).
ALL_ACTIONS = ("ack", "close", "snooze", "unack", "escalate", "reassign", "note", "merge")


def apply_action(
    db: Database, raw: RawConfig, action: str, alert_id: int, actor: str, via: str, now: float, **args: Any
) -> dict[str, Any]:
    """Any of ALL_ACTIONS, inside a transaction. ``args``: ``seconds`` (snooze), ``level`` (escalate,
    optional, 1 = the first), ``policy`` (reassign), ``text`` (note), ``into`` (merge)."""
    from alertd import alert_actions

    if action in ACTIONS:
        return apply_command(db, action, alert_id, actor, via, now)
    if action not in ALL_ACTIONS:
        raise AlertCommandError(f"unknown action {action!r}", 400)
    if alerts.get(db, alert_id) is None:
        raise AlertCommandError(f"no alert #{alert_id}", 404)
    try:
        if action == "snooze":
            alert_actions.snooze(db, alert_id, float(args["seconds"]), actor, via, now)
        elif action == "unack":
            alert_actions.unacknowledge(db, alert_id, actor, via, now)
        elif action == "escalate":
            alert_actions.escalate(db, raw, alert_id, actor, via, now, level=args.get("level"))
        elif action == "reassign":
            alert_actions.reassign(db, raw, alert_id, str(args["policy"]), actor, via, now)
        elif action == "note":
            alert_actions.add_note(db, alert_id, str(args["text"]), actor, via, now)
        else:
            into = int(args["into"])
            if alerts.get(db, into) is None:
                raise AlertCommandError(f"no alert #{into}", 404)
            alert_actions.merge(db, alert_id, into, actor, via, now)
    except alerts.AlertError as exc:
        raise AlertCommandError(str(exc), 409) from None
    return alerts.get(db, alert_id) or {}


async def run_alert_command(
    runtime: Runtime, action: str, alert_id: int, *, actor: str, via: str, **detail: Any
) -> dict[str, Any]:
    now = runtime.clock.now()
    return await runtime.store.write(lambda db: apply_command(db, action, alert_id, actor, via, now, **detail))


async def run_alert_action(
    runtime: Runtime, action: str, alert_id: int, *, actor: str, via: str, **args: Any
) -> dict[str, Any]:
    now = runtime.clock.now()
    raw = runtime.config.raw
    return await runtime.store.write(lambda db: apply_action(db, raw, action, alert_id, actor, via, now, **args))
