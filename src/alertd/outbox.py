"""The outbox: one row per notification, delivered by channel plugins with retries.

Rows are written by escalation steps (and closure notices) inside the same
transaction as the step itself. Each carries an idempotency key, so a step
replayed after a crash inserts nothing new.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlite_utils import Database

if TYPE_CHECKING:
    from alertd.config import RawConfig


def enqueue(
    db: Database,
    *,
    alert_id: int,
    user: str,
    kind: str,
    address: str,
    purpose: str,
    step: str,
    key: str,
    not_before: float,
    now: float,
    failover_of: int | None = None,
) -> bool:
    """Queue one notification; False when its idempotency key was queued before."""
    cursor = db.execute(
        """INSERT OR IGNORE INTO outbox (alert_id, user, kind, address, purpose, step, idempotency_key,
               status, next_attempt_at, created_at, updated_at, failover_of)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)""",
        [alert_id, user, kind, address, purpose, step, key, not_before, now, now, failover_of],
    )
    return cursor.rowcount == 1


def enqueue_for_user(
    db: Database, raw: RawConfig, alert_id: int, user: str, step: str, now: float, purpose: str = "alert"
) -> int:
    """Queue a user's notification rules for one escalation step; return how many were new."""
    cfg = raw.users[user]
    count = 0
    for rule in cfg.notify_steps():
        address = cfg.contact.get(rule.method)
        if address is None:
            continue
        key = f"{purpose}:{alert_id}:{step}:{user}:{rule.method}"
        count += enqueue(
            db,
            alert_id=alert_id,
            user=user,
            kind=rule.method,
            address=address,
            purpose=purpose,
            step=step,
            key=key,
            not_before=now + rule.after_minutes * 60,
            now=now,
        )
    return count


def enqueue_closure_notices(db: Database, raw: RawConfig, alert_id: int, now: float) -> int:
    """Tell everyone who was paged for an alert that it closed, on the methods that reached them."""
    rows = db.execute(
        "SELECT DISTINCT user, kind, address FROM outbox WHERE alert_id = ? AND purpose = 'alert' "
        "AND status IN ('sent', 'delivered')",
        [alert_id],
    ).fetchall()
    count = 0
    for user, kind, address in rows:
        if kind == "voice":  # nobody wants a phone call to say all is well
            continue
        count += enqueue(
            db,
            alert_id=alert_id,
            user=user,
            kind=kind,
            address=address,
            purpose="closed",
            step="closed",
            key=f"closed:{alert_id}:{user}:{kind}",
            not_before=now,
            now=now,
        )
    return count


def for_alert(db: Database, alert_id: int) -> list[dict[str, object]]:
    rows = db.execute(
        "SELECT id, user, kind, channel, purpose, step, status, attempts, next_attempt_at, provider_id, "
        "last_error, created_at, updated_at FROM outbox WHERE alert_id = ? ORDER BY id",
        [alert_id],
    ).fetchall()
    return [dict(r) for r in rows]
