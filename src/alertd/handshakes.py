"""Source handshakes: what an inbound type keeps about its source's side of the link.

Some sources set up their side of an integration with a handshake (an SNS topic's
subscription is announced, then confirmed or unsubscribed). The inbound type owns what
that means; the core only stores and shows it, per integration: a ``key`` (which source:
an SNS topic ARN), a ``state`` word (``pending``, ``confirmed`` ...), the inbound-log row
that last announced it, and a JSON ``detail`` the type fills (shown to operators: never
put a secret in it). Leaf module: it knows no provider.

An inbound type reports a handshake in two ways: as ``InboundMessage.handshake`` (recorded
in the same transaction as the message's inbound-log row), or later, from its own routes or
commands, with ``record`` (``alertd.plugin.set_handshake_state``) inside a write. It may show
its rows its own way in ``alertd integrations`` with ``describe_handshake`` (see
``hookspecs.alertd_inbound_types``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

# Bounds on what a plugin stores per row (keys come from message data: an attacker with a
# valid URL must not grow a row without limit).
MAX_KEY_CHARS = 1024
MAX_STATE_CHARS = 64
MAX_DETAIL_CHARS = 16 * 1024


class HandshakeError(ValueError):
    """A handshake row out of bounds (a plugin's bug, or a source sending junk)."""


@dataclass(frozen=True)
class Handshake:
    """A handshake an inbound message announces (``InboundMessage.handshake``): recorded with
    the message's inbound-log row, in the same transaction. ``detail`` keys set to None are
    removed from the stored detail; the others replace or add keys (a JSON merge patch)."""

    key: str
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandshakeRow:
    """One stored handshake, as ``alertd integrations`` shows it."""

    integration: str
    key: str
    state: str
    inbound_id: int | None
    updated_at: float
    detail: dict[str, Any]


def problem(key: str, state: str, detail: dict[str, Any]) -> str | None:
    """Why a handshake may not be stored, or None."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        return f"key must be a string of 1 to {MAX_KEY_CHARS} characters"
    if not isinstance(state, str) or not 0 < len(state) <= MAX_STATE_CHARS:
        return f"state must be a string of 1 to {MAX_STATE_CHARS} characters"
    if len(json.dumps(detail, default=str)) > MAX_DETAIL_CHARS:
        return f"detail must be at most {MAX_DETAIL_CHARS} characters of JSON"
    return None


def record(
    db: Database,
    integration: str,
    key: str,
    state: str,
    now: float,
    *,
    inbound_id: int | None = None,
    **detail: Any,
) -> None:
    """Set the state of ``integration``'s handshake ``key``, in the caller's transaction.

    ``detail`` is merged into the stored detail (a key given as None is removed);
    ``inbound_id`` replaces the stored one only when given."""
    why = problem(key, state, detail)
    if why is not None:
        raise HandshakeError(f"handshake of {integration}: {why}")
    # The merge is done here, not in SQL: SQLite's json_patch has no PostgreSQL twin for TEXT columns.
    row = db.execute(
        "SELECT detail FROM source_handshakes WHERE integration = ? AND key = ?", [integration, key]
    ).fetchone()
    merged = merge_patch(json.loads(row[0]) if row is not None else {}, json.loads(json.dumps(detail, default=str)))
    db.execute(
        """INSERT INTO source_handshakes (integration, key, state, inbound_id, updated_at, detail)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (integration, key) DO UPDATE SET state = excluded.state,
               inbound_id = COALESCE(excluded.inbound_id, source_handshakes.inbound_id),
               updated_at = excluded.updated_at, detail = excluded.detail""",
        [integration, key, state, inbound_id, now, json.dumps(merged)],
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as a JSON merge patch (RFC 7396: a member set to null is removed)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


def by_integration(db: Database) -> dict[str, list[HandshakeRow]]:
    """Every stored handshake, per integration, by key."""
    out: dict[str, list[HandshakeRow]] = {}
    rows = db.execute(
        "SELECT integration, key, state, inbound_id, updated_at, detail FROM source_handshakes "
        "ORDER BY integration, key"
    ).fetchall()
    for integration, key, state, inbound_id, updated_at, detail in rows:
        out.setdefault(integration, []).append(
            HandshakeRow(integration, key, state, inbound_id, updated_at, json.loads(detail or "{}"))
        )
    return out


def describe(row: HandshakeRow, inbound_type: Any) -> tuple[str, str]:
    """(label, text) of one row for a person: the inbound type's ``describe_handshake`` if it has
    one, else the key, the state and the row that announced it."""
    custom = getattr(inbound_type, "describe_handshake", None)
    if custom is not None:
        label, text = custom(row)
        return str(label), str(text)
    announced = f" (inbound #{row.inbound_id})" if row.inbound_id is not None else ""
    return "handshake", f"{row.key}: {row.state}{announced}"
