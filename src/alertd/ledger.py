"""The inbound log: every request to an integration URL and what became of it.

A row is committed before the sender gets a 2xx. ``accepted = 1`` marks the
one delivery of a source message id that counted; a redelivery of that id is
logged as Duplicate Delivery and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alertd.jsontext import dumps
from alertd.store.returning import inserted_id

if TYPE_CHECKING:
    from sqlite_utils import Database


# Headers are stored by allow-list: anything else (X-Auth-Token, cookies, a proxy's
# X-Original-URL ...) may carry a credential, so only its name is kept.
STORED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "user-agent",
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
# An inbound type adds its own by name prefix (``stored_header_prefixes``, e.g. SNS's
# ``x-amz-sns-``): they come with each Entry.
# Of a request to an unknown token (nobody's traffic, maybe an attacker's): these only.
UNKNOWN_TOKEN_HEADERS = frozenset({"content-type", "content-length", "user-agent", "x-forwarded-for"})
# The most of a body to an unknown token that is kept, for diagnosis.
UNKNOWN_TOKEN_PREFIX_BYTES = 256
# Rows for unknown tokens are no longer inserted once the database uses this share of
# store.max_size_mb: the rest stays for token-valid traffic.
UNKNOWN_TOKEN_SPACE_SHARE = 0.75
NOT_STORED = "<not stored>"
TOKEN_PLACEHOLDER = "{token}"


@dataclass
class Entry:
    received_at: float
    integration: str | None
    remote_addr: str
    method: str
    headers: dict[str, str]
    body: bytes
    body_size: int
    outcome: str
    status: int
    reason: str = ""
    message_type: str | None = None
    source_message_id: str | None = None
    accepted: bool = False
    alert_id: int | None = None
    decision: dict[str, Any] | None = field(default=None)
    simulated: bool = False  # recorded by `alertd simulate`, not delivered by a source
    maintenance_id: int | None = None  # the maintenance window that applied to the message
    header_prefixes: tuple[str, ...] = ()  # the inbound type's stored_header_prefixes


def scrub(value: str, secrets: tuple[str, ...]) -> str:
    """``value`` with every occurrence of each secret replaced by ``{token}``."""
    for secret in secrets:
        if secret:
            value = value.replace(secret, TOKEN_PLACEHOLDER)
    return value


def safe_headers(
    headers: dict[str, str], *, known_sender: bool = True, prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The headers as stored: allowed ones (and those starting with one of the inbound type's
    ``prefixes``) with their values; of a known integration's request, the names of the others
    too (values dropped); of an unknown one, nothing else."""
    if not known_sender:
        return {k: v for k, v in headers.items() if k in UNKNOWN_TOKEN_HEADERS}
    return {k: (v if k in STORED_HEADERS or k.startswith(prefixes) else NOT_STORED) for k, v in headers.items()}


def record(db: Database, entry: Entry) -> int:
    return inserted_id(
        db,
        """INSERT INTO inbound_log (received_at, integration, remote_addr, method, headers, body, body_size,
               message_type, source_message_id, outcome, reason, status, accepted, alert_id, decision, simulated,
               maintenance_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [
            entry.received_at,
            entry.integration,
            entry.remote_addr,
            entry.method,
            dumps(
                safe_headers(entry.headers, known_sender=entry.integration is not None, prefixes=entry.header_prefixes)
            ),
            entry.body,
            entry.body_size,
            entry.message_type,
            entry.source_message_id,
            entry.outcome,
            entry.reason,
            entry.status,
            int(entry.accepted),
            entry.alert_id,
            None if entry.decision is None else dumps(entry.decision),
            int(entry.simulated),
            entry.maintenance_id,
        ],
    )


def minute_of(when: float) -> float:
    """The start of the minute ``when`` falls in: unknown-token requests are counted per address and minute."""
    return when - when % 60


def record_unknown(db: Database, entry: Entry, max_share: float = UNKNOWN_TOKEN_SPACE_SHARE) -> tuple[int | None, bool]:
    """Log a request to an unknown token: one row per remote address per minute, its
    ``repeat_count`` counting the requests. Return (row id, whether the row is new); the
    id is None when no row was inserted because the database is near its size cap."""
    minute = minute_of(entry.received_at)
    row = db.execute(
        "SELECT id FROM inbound_log WHERE integration IS NULL AND remote_addr = ? "
        "AND received_at >= ? AND received_at < ? ORDER BY id DESC LIMIT 1",
        [entry.remote_addr, minute, minute + 60],
    ).fetchone()
    if row is not None:
        db.execute(
            "UPDATE inbound_log SET repeat_count = repeat_count + 1, last_received_at = ? WHERE id = ?",
            [entry.received_at, row[0]],
        )
        return int(row[0]), False
    if _space_used_share(db) >= max_share:
        return None, False
    entry.body = entry.body[:UNKNOWN_TOKEN_PREFIX_BYTES]
    return record(db, entry), True


def add_repeats(db: Database, counts: list[tuple[int, int]], at: float) -> None:
    """Add counted repeats to unknown-token rows: (row id, how many) each."""
    for inbound_id, repeats in counts:
        db.execute(
            "UPDATE inbound_log SET repeat_count = repeat_count + ?, last_received_at = CASE WHEN "
            "COALESCE(last_received_at, received_at) > ? THEN COALESCE(last_received_at, received_at) ELSE ? END "
            "WHERE id = ?",
            [repeats, at, at, inbound_id],
        )


def _space_used_share(db: Database) -> float:
    from alertd.store.capacity import space_used_share

    return space_used_share(db)


def first_delivery(db: Database, integration: str, source_message_id: str) -> tuple[int, int | None] | None:
    """(inbound id, alert id) of the accepted delivery of this message id, if any."""
    row = db.execute(
        "SELECT id, alert_id FROM inbound_log WHERE integration = ? AND source_message_id = ? AND accepted = 1",
        [integration, source_message_id],
    ).fetchone()
    return None if row is None else (row[0], row[1])


LIST_COLUMNS = (
    "id, received_at, integration, remote_addr, message_type, source_message_id, outcome, "
    "reason, status, alert_id, body_size, repeat_count, simulated, maintenance_id"
)


def query(
    db: Database,
    *,
    integration: str | None = None,
    outcome: str | None = None,
    since: float | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The newest messages first, filtered like ``alertd inbound-log``; ``before``: only ids below
    it (the console's next page)."""
    sql = f"SELECT {LIST_COLUMNS} FROM inbound_log WHERE 1=1"
    params: list[Any] = []
    if integration:
        sql += " AND integration = ?"
        params.append(integration)
    if outcome:
        sql += " AND outcome = ?"
        params.append(outcome)
    if since is not None:
        sql += " AND received_at >= ?"
        params.append(since)
    if before is not None:
        sql += " AND id < ?"
        params.append(before)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [dict(r) for r in db.execute(sql, params).fetchall()]


def get(db: Database, inbound_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM inbound_log WHERE id = ?", [inbound_id]).fetchone()
    if row is None:
        return None
    out = dict(row)
    out["headers"] = json.loads(out["headers"])
    out["decision"] = json.loads(out["decision"]) if out["decision"] else None
    return out


def prune(db: Database, older_than: float, batch: int = 5000) -> int:
    """Delete rows received before ``older_than``, in batches; return how many went."""
    cursor = db.execute(
        "DELETE FROM inbound_log WHERE id IN (SELECT id FROM inbound_log WHERE received_at < ? LIMIT ?)",
        [older_than, batch],
    )
    return cursor.rowcount
