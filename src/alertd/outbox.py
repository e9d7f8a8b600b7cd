"""The outbox: one row per notification, delivered by channel plugins with retries.

Rows are written by escalation steps (and closure notices) inside the same
transaction as the step itself. Each carries an idempotency key, so a step
replayed after a crash inserts nothing new.

Delivery is at-least-once. A row is committed 'sending' before the channel is
called and its result (with the provider's id) is committed right after; a kill
between the provider's accept and that commit leaves the outcome unknown, so on
restart the row is sent again with the same idempotency key (webhook
``Idempotency-Key``, email ``Message-ID``: the receiver can drop the repeat) and
marked ``in_doubt``. If its alert stops before the resend the row ends 'unknown',
never 'cancelled', because the first send may have arrived.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alertd import claims
from alertd.timeline import AlertEvent, add_event

if TYPE_CHECKING:
    from sqlite_utils import Database

    # The channel types are imported where delivery uses them: a person's ack or close (the CLI:
    # escalation.stop -> cancel_pending) builds none of them.
    from alertd.channels import DeliveryResult, DeliveryState, Notification
    from alertd.config import Config, RawConfig
    from alertd.runtime import Runtime


def enqueue(
    db: Database,
    *,
    alert_id: int | None,
    user: str,
    kind: str,
    address: str,
    purpose: str,
    step: str,
    key: str,
    not_before: float,
    now: float,
    failover_of: int | None = None,
    payload: str | None = None,
) -> bool:
    """Queue one notification; False when its idempotency key was queued before. ``payload``: a
    workflow's rendered text (a notice's message, a webhook's body). ``alert_id`` None: a notice
    about no alert (a schedule workflow's handoff notice)."""
    cursor = db.execute(
        """INSERT INTO outbox (alert_id, user, kind, address, purpose, step, idempotency_key,
               status, next_attempt_at, created_at, updated_at, failover_of, payload)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [alert_id, user, kind, address, purpose, step, key, not_before, now, now, failover_of, payload],
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


def enqueue_closure_notices(db: Database, config: Config, alert_id: int, now: float) -> int:
    """Tell everyone who was paged for an alert that it closed, on the methods that reached them,
    except kinds whose channel declares ``closure_notices = False`` (a phone call)."""
    rows = db.execute(
        "SELECT user, kind, address FROM outbox WHERE alert_id = ? AND purpose = 'alert' "
        "AND status IN ('sent', 'delivered', 'unknown') GROUP BY user, kind, address ORDER BY MIN(id)",
        [alert_id],
    ).fetchall()
    count = 0
    for user, kind, address in rows:
        if not config.sends_closure_notices(kind):
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


# --- delivery -----------------------------------------------------------------------------

SEND_TIMEOUT_SECONDS = 60.0


def backoff_seconds(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, then 50-100% of that."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + 0.5 * rand())


def requeue_interrupted(db: Database, now: float) -> int:
    """At start: rows left 'sending' by a process that is gone (a crash of this host's daemon, a
    clean stop mid-send) or whose lease expired. Their outcome is unknown, so they are sent again
    (with the same idempotency key, which providers that support it use to deduplicate), and
    marked in doubt: if the alert stops before the resend they end 'unknown', not 'cancelled'.
    Rows another live instance is sending stay its own."""
    return claims.release_sends(db, now, stale_before=now - 3 * SEND_TIMEOUT_SECONDS, gone=True)


# A pending row whose earlier send may have gone out is not 'cancelled' when its alert stops.
_STOPPED_STATUS = "CASE WHEN in_doubt = 1 THEN 'unknown' ELSE 'cancelled' END"
_STOPPED_ERROR = "CASE WHEN in_doubt = 1 THEN ? || '; an earlier send was interrupted and may have arrived' ELSE ? END"


def cancel_pending(db: Database, alert_id: int, reason: str, now: float) -> int:
    """The alert stopped paging: what has not gone out is cancelled ('unknown' if it may have)."""
    cursor = db.execute(
        f"UPDATE outbox SET status = {_STOPPED_STATUS}, last_error = {_STOPPED_ERROR}, updated_at = ?, "
        "next_attempt_at = NULL WHERE alert_id = ? AND status = 'pending' AND purpose = 'alert'",
        [reason, reason, now, alert_id],
    )
    return cursor.rowcount


def claim_due(
    db: Database, now: float, limit: int = 100, *, holder: str = "local", lease: float | None = None
) -> list[dict[str, Any]]:
    """Mark due rows 'sending' under ``holder``'s lease (so no other loop or instance takes them)
    and return them with their alert."""
    # A row 'sending' whose lease expired (its instance died) or for far longer than a send may
    # take (its result was lost: a failed write) goes again.
    claims.release_sends(db, now, stale_before=now - 3 * SEND_TIMEOUT_SECONDS, mine=holder)
    ids = claims.claim_outbox(db, holder, now, lease, limit)
    if not ids:
        return []
    rows = db.execute(
        f"""SELECT o.*, a.title, a.description, a.severity, a.url, a.tags, a.fields, a.status AS alert_status,
                  a.integration, a.source_id, a.created_at AS alert_created_at
           FROM outbox o LEFT JOIN alerts a ON a.id = o.alert_id
           WHERE o.id IN ({", ".join("?" * len(ids))}) ORDER BY o.next_attempt_at, o.id""",
        ids,
    ).fetchall()
    claimed = []
    for row in rows:
        item = dict(row)
        if item["purpose"] == "alert" and item["alert_status"] != "open":
            reason = f"alert {item['alert_status']}"
            db.execute(
                f"UPDATE outbox SET status = {_STOPPED_STATUS}, last_error = {_STOPPED_ERROR}, updated_at = ?, "
                "next_attempt_at = NULL, attempts = attempts - 1 WHERE id = ?",
                [reason, reason, now, item["id"]],
            )
            continue
        claimed.append(item)
    return claimed


def next_due(db: Database, holder: str = "local") -> float | None:
    """When ``claim_due`` next has work: a pending row's attempt, or a send to put back (a lease
    ended, a result lost)."""
    pending = db.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'").fetchone()[0]
    release = claims.next_release(db, holder, 3 * SEND_TIMEOUT_SECONDS)
    times = [t for t in (pending, release) if t is not None]
    return min(times, default=None)


def failover(db: Database, raw: RawConfig, row: dict[str, Any], now: float) -> list[AlertEvent]:
    """After a contact method finally failed: reach the user on their next method for the same step."""

    alert_id, user = row["alert_id"], row["user"]
    if row["purpose"] != "alert" or alert_id is None or user not in raw.users:
        return []
    status = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    if status != "open":
        return []
    cfg = raw.users[user]
    order = [step.method for step in cfg.notify_steps()]
    later = order[order.index(row["kind"]) + 1 :] if row["kind"] in order else order
    for kind in later:
        address = cfg.contact.get(kind)  # type: ignore[call-overload]
        if address is None:
            continue
        existing = db.execute(
            "SELECT id, status FROM outbox WHERE alert_id = ? AND user = ? AND step = ? AND kind = ? "
            "AND purpose = 'alert'",
            [alert_id, user, row["step"], kind],
        ).fetchone()
        if existing is not None:
            if existing[1] != "pending":
                continue  # already reached (or failed) that way
            db.execute(
                "UPDATE outbox SET next_attempt_at = ?, updated_at = ?, failover_of = ? WHERE id = ?",
                [now, now, row["id"], existing[0]],
            )
        else:
            enqueue(
                db,
                alert_id=alert_id,
                user=user,
                kind=kind,
                address=address,
                purpose="alert",
                step=row["step"],
                key=f"alert:{alert_id}:{row['step']}:{user}:{kind}",
                not_before=now,
                now=now,
                failover_of=row["id"],
            )
        return [
            add_event(
                db,
                alert_id,
                "notification_failover",
                "outbox",
                "engine",
                now,
                user=user,
                failed=row["kind"],
                next=kind,
            )
        ]
    return [
        add_event(
            db,
            alert_id,
            "notification_exhausted",
            "outbox",
            "engine",
            now,
            user=user,
            reason="no contact method left",
        )
    ]


def _event(
    db: Database, alert_id: int | None, kind: str, actor: str, via: str, now: float, /, **detail: Any
) -> list[AlertEvent]:
    """A timeline event about a notification; none for a notice without an alert (its row says it all)."""
    if alert_id is None:
        return []
    return [add_event(db, alert_id, kind, actor, via, now, **detail)]


def record_result(
    db: Database,
    raw: RawConfig,
    row: dict[str, Any],
    channel: str | None,
    result: DeliveryResult,
    now: float,
    in_doubt: bool = False,
) -> list[AlertEvent]:
    """Settle a send. ``in_doubt``: the attempt may have reached the recipient (no answer in time)."""

    settings = raw.outbox
    if result.status in ("sent", "delivered"):
        # Only a row still 'sending': a delivery report may have settled it already.
        db.execute(
            "UPDATE outbox SET status = ?, channel = ?, provider_id = ?, last_error = NULL, next_attempt_at = NULL, "
            "updated_at = ? WHERE id = ? AND status = 'sending'",
            [result.status, channel, result.provider_id, now, row["id"]],
        )
        return _event(
            db,
            row["alert_id"],
            "notified",
            row["user"],
            channel or row["kind"],
            now,
            kind=row["kind"],
            purpose=row["purpose"],
            step=row["step"],
            notification=row["id"],
        )
    if result.status == "retry" and row["attempts"] < settings.max_attempts:
        delay = result.retry_after or backoff_seconds(
            row["attempts"], settings.backoff_base_seconds, settings.backoff_max_seconds
        )
        db.execute(
            "UPDATE outbox SET status = 'pending', channel = ?, last_error = ?, next_attempt_at = ?, updated_at = ?, "
            "in_doubt = CASE WHEN in_doubt > ? THEN in_doubt ELSE ? END WHERE id = ?",
            [channel, result.error, now + delay, now, int(in_doubt), int(in_doubt), row["id"]],
        )
        return _event(
            db,
            row["alert_id"],
            "notification_retry_scheduled",
            row["user"],
            channel or row["kind"],
            now,
            kind=row["kind"],
            notification=row["id"],
            attempt=row["attempts"],
            next_attempt_at=now + delay,
            error=result.error,
        )
    db.execute(
        "UPDATE outbox SET status = 'failed', channel = ?, last_error = ?, next_attempt_at = NULL, updated_at = ? "
        "WHERE id = ?",
        [channel, result.error, now, row["id"]],
    )
    events = _event(
        db,
        row["alert_id"],
        "notification_failed",
        row["user"],
        channel or row["kind"],
        now,
        kind=row["kind"],
        attempts=row["attempts"],
        error=result.error,
    )
    return events + failover(db, raw, row, now)


def record_delivery_status(
    db: Database,
    raw: RawConfig,
    channel: str,
    provider_id: str,
    state: DeliveryState,
    error: str | None,
    now: float,
    notification_id: int | None = None,
) -> list[AlertEvent]:
    """A provider's delivery report (e.g. a status callback) for a sent notification, already
    translated by its channel plugin into a neutral ``state``; ``error`` is the plugin's one-line
    reason for a failure (in the provider's words).

    With ``notification_id`` (carried in the callback URL) the row is found even when the report
    beats the commit of the send's own result; otherwise it is found by the provider's id."""
    from alertd.channels import DeliveryResult, DeliveryState

    if not isinstance(state, DeliveryState):
        # A plugin passing its provider's raw word would otherwise be ignored without a trace.
        raise TypeError(f"state must be a DeliveryState, not {type(state).__name__}")
    if notification_id is not None:
        row = db.execute("SELECT * FROM outbox WHERE id = ?", [notification_id]).fetchone()
        if row is not None and (row["provider_id"] not in (None, provider_id) or row["channel"] not in (None, channel)):
            row = None  # a report about another attempt, or forged for another channel
    else:
        row = db.execute(
            "SELECT * FROM outbox WHERE channel = ? AND provider_id = ?", [channel, provider_id]
        ).fetchone()
    if row is None or not state.final or row["status"] in ("delivered", "failed", "cancelled", "pending"):
        return []
    item = dict(row)
    if state is DeliveryState.DELIVERED:
        db.execute(
            "UPDATE outbox SET status = 'delivered', channel = ?, provider_id = ?, updated_at = ? WHERE id = ?",
            [channel, provider_id, now, item["id"]],
        )
        return _event(
            db,
            item["alert_id"],
            "notification_delivered",
            item["user"],
            channel,
            now,
            kind=item["kind"],
            notification=item["id"],
            purpose=item["purpose"],
        )
    result = DeliveryResult("failed", provider_id=provider_id, error=error or f"provider reported {state.value}")
    return record_result(db, raw, item, channel, result, now)


def build_notification(runtime: Runtime, row: dict[str, Any], now: float) -> Notification:
    from alertd.channels import Notification
    from alertd.links import console_page

    config = runtime.config
    user_cfg = config.raw.users.get(row["user"])
    # A notice without an alert (a handoff notice) carries an empty alert: its text is ``message``.
    alert = (
        {}
        if row["alert_id"] is None
        else {
            "id": row["alert_id"],
            "title": row["title"],
            "description": row["description"],
            "severity": row["severity"],
            "url": row["url"],
            "tags": json.loads(row["tags"]),
            "fields": json.loads(row["fields"]),
            "status": row["alert_status"],
            "integration": row["integration"],
            "source_id": row["source_id"],
            "created_at": row["alert_created_at"],
        }
    )
    return Notification(
        id=row["id"],
        alert_id=row["alert_id"],
        user=row["user"],
        user_name=(user_cfg.full_name if user_cfg and user_cfg.full_name else row["user"]),
        kind=row["kind"],
        address=row["address"],
        purpose=row["purpose"],
        step=row["step"],
        idempotency_key=row["idempotency_key"],
        attempt=row["attempts"],
        alert=alert,
        links=_links(runtime, row, now),
        public_url=config.public_url,
        timezone=user_cfg.timezone if user_cfg else "UTC",
        message=_message(row),
        console_url=console_page(config, row["alert_id"]),
    )


def _links(runtime: Runtime, row: dict[str, Any], now: float) -> dict[str, str]:
    """Signed ack/close links for a page; only the alert's page for a workflow's notice about one
    (a stakeholder is told, not asked to act); none for closure notices."""
    from alertd.links import links_for, view_link

    if row["alert_id"] is None:
        return {}
    if row["purpose"] == "alert":
        return links_for(runtime.config, runtime.services["links_secret"], row["alert_id"], row["user"], now)
    if row["purpose"] == "workflow":
        return {"view": view_link(runtime.config, row["alert_id"])}
    return {}


def _message(row: dict[str, Any]) -> str:
    """A workflow notice's own text (rendered when it was queued)."""
    if row.get("purpose") != "workflow" or not row.get("payload"):
        return ""
    try:
        return str(json.loads(row["payload"]).get("message") or "")
    except (ValueError, AttributeError):
        return ""


def get(db: Database, notification_id: int) -> dict[str, Any] | None:
    """One outbox row with its alert's status and title (``alert_status``, ``alert_title``), or None."""
    row = db.execute(
        "SELECT o.*, a.status AS alert_status, a.title AS alert_title, a.severity AS alert_severity "
        "FROM outbox o LEFT JOIN alerts a ON a.id = o.alert_id WHERE o.id = ?",
        [notification_id],
    ).fetchone()
    return None if row is None else dict(row)
