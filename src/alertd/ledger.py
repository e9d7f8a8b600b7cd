"""The inbound log: every request to an integration URL and what became of it.

A row is committed before the sender gets a 2xx. ``accepted = 1`` marks the
one delivery of a source message id that counted; a redelivery of that id is
logged as Duplicate Delivery and changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

# Never stored: credentials a sender might put in headers.
REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


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


def safe_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("<redacted>" if k in REDACTED_HEADERS else v) for k, v in headers.items()}


def record(db: Database, entry: Entry) -> int:
    cursor = db.execute(
        """INSERT INTO inbound_log (received_at, integration, remote_addr, method, headers, body, body_size,
               message_type, source_message_id, outcome, reason, status, accepted, alert_id, decision)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            entry.received_at,
            entry.integration,
            entry.remote_addr,
            entry.method,
            json.dumps(safe_headers(entry.headers)),
            entry.body,
            entry.body_size,
            entry.message_type,
            entry.source_message_id,
            entry.outcome,
            entry.reason,
            entry.status,
            int(entry.accepted),
            entry.alert_id,
            None if entry.decision is None else json.dumps(entry.decision, default=str),
        ],
    )
    return int(cursor.lastrowid)  # type: ignore[arg-type]


def set_alert(db: Database, inbound_id: int, alert_id: int) -> None:
    db.execute("UPDATE inbound_log SET alert_id = ? WHERE id = ?", [alert_id, inbound_id])


def first_delivery(db: Database, integration: str, source_message_id: str) -> tuple[int, int | None] | None:
    """(inbound id, alert id) of the accepted delivery of this message id, if any."""
    row = db.execute(
        "SELECT id, alert_id FROM inbound_log WHERE integration = ? AND source_message_id = ? AND accepted = 1",
        [integration, source_message_id],
    ).fetchone()
    return None if row is None else (row[0], row[1])


LIST_COLUMNS = (
    "id, received_at, integration, remote_addr, message_type, source_message_id, outcome, "
    "reason, status, alert_id, body_size, simulated"
)


def query(
    db: Database,
    *,
    integration: str | None = None,
    outcome: str | None = None,
    since: float | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
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
