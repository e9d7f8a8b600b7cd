"""Replies from people: ``ACK 42``, ``CLOSE 42``, ``SNOOZE 42 30`` (minutes), a bare ``ACK`` (their
latest page), by a channel's reply path.

The channel plugin authenticates the provider's webhook and says which contact kinds the sender's
address may be listed under and how addresses compare; this module decides what
the words mean, who sent them (a configured user's contact address), and whether
that user was paged for the alert. It runs inside one writer transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alertd.commands import MAX_ID, AlertCommandError, apply_action

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import RawConfig

WORDS = {
    "ack": "ack",
    "a": "ack",
    "acknowledge": "ack",
    "ok": "ack",
    "close": "close",
    "c": "close",
    "resolve": "close",
    "resolved": "close",
    "snooze": "snooze",
    "s": "snooze",
}
HELP = (
    "Reply ACK <id> to acknowledge, CLOSE <id> to close, SNOOZE <id> <minutes> to snooze; "
    "ACK alone acknowledges your latest alert."
)
# SNOOZE 42 without minutes; and the most a reply may ask for (a day: longer is for the CLI or the API).
DEFAULT_SNOOZE_MINUTES = 30
MAX_SNOOZE_MINUTES = 1440


@dataclass(frozen=True)
class ReplyCommand:
    action: str
    alert_id: int | None
    minutes: int | None = None


def parse_reply(text: str) -> ReplyCommand | None:
    words = re.findall(r"[A-Za-z]+|#?\d+", text or "")
    if not words or words[0].lower() not in WORDS:
        return None
    action = WORDS[words[0].lower()]
    if len(words) == 1:
        return ReplyCommand(action, None, DEFAULT_SNOOZE_MINUTES if action == "snooze" else None)
    if not all(w.lstrip("#").isdigit() for w in words[1:]):
        return None
    digits = words[1].lstrip("#").lstrip("0") or "0"
    # Beyond 19 digits no alert can exist; not converted (int() refuses over 4300 digits).
    alert_id = int(digits) if len(digits) <= 19 else MAX_ID + 1
    if len(words) == 2:
        return ReplyCommand(action, alert_id, DEFAULT_SNOOZE_MINUTES if action == "snooze" else None)
    if len(words) == 3 and action == "snooze" and not words[2].startswith("#") and len(words[2]) <= 5:
        return ReplyCommand(action, alert_id, int(words[2]))
    return None


def plain_address(address: str) -> str:
    """How addresses compare unless the channel says otherwise: case and outer spaces aside."""
    return address.strip().lower()


def phone_number(address: str) -> str:
    """Phone numbers compare by their digits (and a leading +): ``+1 (555) 555-0101``."""
    return re.sub(r"[^\d+]", "", address)


def user_for_address(
    raw: RawConfig, kinds: tuple[str, ...], address: str, normalize: Callable[[str], str] = plain_address
) -> str | None:
    """The user with ``address`` under one of the contact ``kinds``, compared after ``normalize``."""
    wanted = normalize(address)
    for name, user in raw.users.items():
        for contact_kind in kinds:
            value = user.contact.get(contact_kind)  # type: ignore[call-overload]
            if value is not None and normalize(value) == wanted:
                return name
    return None


def latest_alert_for(
    db: Database, user: str, kinds: tuple[str, ...], statuses: tuple[str, ...] = ("open", "acknowledged")
) -> int | None:
    """The newest alert in one of ``statuses`` that this user was paged for on one of these kinds."""
    placeholders = ", ".join("?" for _ in kinds)
    wanted = ", ".join("?" for _ in statuses)
    row = db.execute(
        f"""SELECT o.alert_id FROM outbox o JOIN alerts a ON a.id = o.alert_id
            WHERE o.user = ? AND o.kind IN ({placeholders}) AND o.purpose = 'alert'
              AND o.status IN ('sent', 'delivered') AND a.status IN ({wanted})
            ORDER BY o.id DESC LIMIT 1""",
        [user, *kinds, *statuses],
    ).fetchone()
    return None if row is None else int(row[0])


def was_paged(db: Database, user: str, alert_id: int) -> bool:
    return (
        db.execute("SELECT 1 FROM outbox WHERE user = ? AND alert_id = ? LIMIT 1", [user, alert_id]).fetchone()
        is not None
    )


def first_receipt(db: Database, key: str, now: float) -> bool:
    """Record a provider's id for a request that acts; False if it was recorded before (a replay).

    Runs in the transaction of the command it guards, so a request whose command fails can be retried.
    """
    cursor = db.execute(
        "INSERT INTO reply_receipts (key, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [key, now]
    )
    return cursor.rowcount == 1


def prune_receipts(db: Database, cutoff: float, limit: int = 5000) -> int:
    """Forget receipts recorded before ``cutoff`` (at most ``limit`` per call); return how many."""
    cursor = db.execute(
        "DELETE FROM reply_receipts WHERE key IN (SELECT key FROM reply_receipts WHERE received_at < ? LIMIT ?)",
        [cutoff, limit],
    )
    return cursor.rowcount


def handle_reply(
    db: Database,
    raw: RawConfig,
    kind: str,
    sender: str,
    text: str,
    now: float,
    *,
    kinds: tuple[str, ...] | None = None,
    normalize: Callable[[str], str] = plain_address,
) -> str:
    """The answer to send back (what changed is committed with the caller's transaction).

    ``kind`` is the path the reply came by (recorded as ``via``). The channel plugin says where
    its sender's address may be listed: ``kinds`` (default ``(kind,)``; an SMS reply comes from
    the same phone number as a ``voice`` contact) and how addresses compare (``normalize``, e.g.
    ``phone_number``). A bare ACK acts on the latest alert the user was paged for on ``kinds``."""
    kinds = kinds or (kind,)
    user = user_for_address(raw, kinds, sender, normalize)
    if user is None:
        return "This number is not known to alertd."
    command = parse_reply(text)
    if command is None:
        return HELP
    alert_id = command.alert_id
    if alert_id is None:
        # A bare ACK means the latest alert still waiting for one; a bare CLOSE (SNOOZE), the latest not closed.
        statuses = ("open",) if command.action == "ack" else ("open", "acknowledged")
        alert_id = latest_alert_for(db, user, kinds, statuses)
        if alert_id is None:
            return "You have no open alert to act on. " + HELP
    elif not 0 < alert_id <= MAX_ID:
        return "There is no alert with that number. " + HELP
    elif not was_paged(db, user, alert_id):
        return f"You were not paged for alert #{alert_id}."
    minutes = command.minutes
    if command.action == "snooze" and not (minutes and 1 <= minutes <= MAX_SNOOZE_MINUTES):
        return f"Snooze for 1 to {MAX_SNOOZE_MINUTES} minutes. " + HELP
    seconds = (minutes or 0) * 60
    try:
        alert = apply_action(db, raw, command.action, alert_id, user, kind, now, seconds=seconds)
    except AlertCommandError as exc:
        return f"{exc}."
    done = {"ack": "Acknowledged", "close": "Closed", "snooze": f"Snoozed for {minutes} min"}[command.action]
    return f"{done} #{alert_id}: {alert['title']}"[:300]
