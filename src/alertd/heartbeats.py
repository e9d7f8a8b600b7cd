"""Heartbeats: a secret URL that a cron job or a Lambda pings; a missed ping opens an alert.

Each configured heartbeat is a row of ``heartbeats``: its last ping and its deadline
(``due_at``: the last ping, or when alertd first saw the heartbeat, plus interval and
grace). A ping moves the deadline and closes the heartbeat's alert, in one transaction
with the ping's row (``heartbeat_pings``, pruned with the inbound log). The heartbeat loop
(``engine/heartbeats.py``) opens an alert for a row past its deadline, also in one
transaction. Deadlines are rows, so a restart (even kill -9) keeps them: a ping committed
before the restart counts, and a deadline passed while the daemon was down fires at start.

The alerts belong to the pseudo-integration ``heartbeat:NAME`` (source id NAME), so
they are listed, acknowledged and escalated like any other.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alertd import alerts, apply, claims, maintenance_windows
from alertd.decisions import Decision
from alertd.timeline import AlertEvent

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, HeartbeatConfig

INTEGRATION_PREFIX = "heartbeat:"
TOKEN_PREFIX = "heartbeat_token:"
# A ping may carry a short status (a Lambda's result); anything larger is refused with 413.
MAX_PING_BODY_BYTES = 16 * 1024
# Of that, this much is kept with the ping.
PING_BODY_KEPT = 1024
ACTIVE_STATES = ("waiting", "up")


# --- pure decisions ----------------------------------------------------------------------


def deadline(cfg: HeartbeatConfig, since: float) -> float:
    """When a heartbeat last pinged (or first seen) at ``since`` is missed."""
    return since + (cfg.interval_minutes + cfg.grace_minutes) * 60


def local_time(epoch: float, zone: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def missed_text(name: str, cfg: HeartbeatConfig, last_ping_at: float | None, created_at: float) -> str:
    """The sentence that says what was missed, times in the heartbeat's zone."""
    if last_ping_at is None:
        return f"heartbeat {name} missed: no ping since it was set up at {local_time(created_at, cfg.timezone)}"
    return f"heartbeat {name} missed: last ping at {local_time(last_ping_at, cfg.timezone)}"


def missed_decision(name: str, cfg: HeartbeatConfig, last_ping_at: float | None, created_at: float) -> Decision:
    text = missed_text(name, cfg, last_ping_at, created_at)
    fields = {"heartbeat": name, "interval_minutes": f"{cfg.interval_minutes:g}"}
    fields["last_ping_at"] = "" if last_ping_at is None else datetime.fromtimestamp(last_ping_at, UTC).isoformat()
    return Decision(
        "open",
        "Mapped Open",
        source_id=name,
        title=cfg.title or text,
        description=text,
        severity=cfg.severity,
        tags=("heartbeat",),
        fields=fields,
    )


# --- tokens ------------------------------------------------------------------------------------


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class HeartbeatIndex:
    """Find a heartbeat by the token in its URL, in constant time (as integrations.TokenIndex)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._by_digest = {_digest(token): (token, name) for name, token in tokens.items()}

    def lookup(self, presented: str) -> str | None:
        found = self._by_digest.get(_digest(presented))
        if found is None or not hmac.compare_digest(found[0].encode(), presented.encode("utf-8", "surrogateescape")):
            return None
        return found[1]


def ensure_heartbeat_tokens(db: Database, config: Config) -> dict[str, str]:
    from alertd.integrations import ensure_named_tokens

    configured = {
        name: None if beat.token is None else beat.token.get_secret_value()
        for name, beat in config.raw.heartbeats.items()
    }
    return ensure_named_tokens(db, TOKEN_PREFIX, configured)


def heartbeat_url(config: Config, token: str) -> str:
    return f"{config.public_url}/hb/{token}"


# --- the rows ----------------------------------------------------------------------------------


def sync(db: Database, config: Config, now: float) -> None:
    """Give each configured heartbeat its row, deadlines computed with the current settings (a
    reload may change an interval); rows of heartbeats no longer configured become inactive."""
    beats = config.raw.heartbeats
    rows = {r["name"]: dict(r) for r in db.execute("SELECT * FROM heartbeats").fetchall()}
    for name, cfg in beats.items():
        row = rows.get(name)
        if row is None or row["state"] == "inactive":
            db.execute(
                "INSERT INTO heartbeats (name, state, created_at, due_at, updated_at) VALUES (?, 'waiting', ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = 'waiting', created_at = excluded.created_at, "
                "last_ping_at = NULL, due_at = excluded.due_at, updated_at = excluded.updated_at",
                [name, now, deadline(cfg, now), now],
            )
        elif row["state"] in ACTIVE_STATES:
            due = deadline(cfg, row["last_ping_at"] or row["created_at"])
            if due != row["due_at"]:
                db.execute("UPDATE heartbeats SET due_at = ?, updated_at = ? WHERE name = ?", [due, now, name])
    for name, row in rows.items():
        if name not in beats and row["state"] != "inactive":
            db.execute(
                "UPDATE heartbeats SET state = 'inactive', due_at = NULL, updated_at = ? WHERE name = ?", [now, name]
            )


@dataclass
class Ping:
    method: str
    remote_addr: str
    user_agent: str
    body: bytes
    body_size: int


def record_ping(db: Database, config: Config, name: str, ping: Ping, now: float) -> tuple[int | None, list[AlertEvent]]:
    """The writer job of one ping: log it, move the deadline, close the alert a miss opened.
    Returns the closed alert's id (if any) and the events written."""
    cfg = config.raw.heartbeats[name]
    if db.execute("SELECT 1 FROM heartbeats WHERE name = ? AND state != 'inactive'", [name]).fetchone() is None:
        sync(db, config, now)
    events: list[AlertEvent] = []
    closed = None
    live = alerts.find_live(db, INTEGRATION_PREFIX + name, name)
    if live is not None:
        events = apply.close(db, live.id, INTEGRATION_PREFIX + name, "source", now, heartbeat=name)
        closed = live.id
        if cfg.notify_on_close:
            from alertd.outbox import enqueue_closure_notices

            enqueue_closure_notices(db, config, live.id, now)
    db.execute(
        """INSERT INTO heartbeat_pings (heartbeat, received_at, method, remote_addr, user_agent, body, body_size,
               closed_alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            name,
            now,
            ping.method,
            ping.remote_addr,
            ping.user_agent[:256],
            ping.body[:PING_BODY_KEPT],
            ping.body_size,
            closed,
        ],
    )
    db.execute(
        "UPDATE heartbeats SET state = 'up', last_ping_at = ?, due_at = ?, ping_count = ping_count + 1, "
        "alert_id = COALESCE(?, alert_id), updated_at = ? WHERE name = ?",
        [now, deadline(cfg, now), closed, now, name],
    )
    return closed, events


def fire_due(db: Database, config: Config, now: float, limit: int = 200) -> list[tuple[str, int]]:
    """Open an alert for every heartbeat past its deadline (one writer transaction); the
    (heartbeat, alert id) of each miss, for the log."""
    missed: list[tuple[str, int]] = []
    rows = db.execute(
        claims.due_rows(
            "SELECT * FROM heartbeats WHERE state IN ('waiting', 'up') AND due_at <= ? ORDER BY due_at LIMIT ?"
        ),
        [now, limit],
    ).fetchall()
    for row in rows:
        name = row["name"]
        cfg = config.raw.heartbeats.get(name)
        if cfg is None:  # removed by a reload; sync marks it inactive
            db.execute(
                "UPDATE heartbeats SET state = 'inactive', due_at = NULL, updated_at = ? WHERE name = ?", [now, name]
            )
            continue
        integration = INTEGRATION_PREFIX + name
        live = alerts.find_live(db, integration, name)
        if live is None:
            decision = missed_decision(name, cfg, row["last_ping_at"], row["created_at"])
            # A maintenance window naming heartbeat:NAME holds its page like any alert's.
            document = {"heartbeat": name, "last_ping_at": row["last_ping_at"]}
            window = maintenance_windows.applying(db, integration, document, now)
            alert_id = apply.open_alert(db, integration, cfg.escalation_policy, decision, None, now)
            if window is not None:
                maintenance_windows.hold(db, alert_id, window, now)
        else:  # an alert of this heartbeat is still open (e.g. acknowledged): it stands for this miss too
            alert_id = live.id
        db.execute(
            "UPDATE heartbeats SET state = 'missed', due_at = NULL, alert_id = ?, updated_at = ? WHERE name = ?",
            [alert_id, now, name],
        )
        missed.append((name, alert_id))
    return missed


def next_due(db: Database) -> float | None:
    row = db.execute("SELECT MIN(due_at) FROM heartbeats WHERE state IN ('waiting', 'up')").fetchone()
    return row[0]


def status(db: Database) -> dict[str, dict[str, Any]]:
    return {r["name"]: dict(r) for r in db.execute("SELECT * FROM heartbeats").fetchall()}


def listing(config: Config, rows: dict[str, dict[str, Any]], only: str | None = None) -> list[dict[str, Any]]:
    """Each configured heartbeat as people and the API see it (never its token): settings, state
    ("new" before the daemon has set it up), last ping, next deadline (``due_at``), open alert."""
    out = []
    for name, cfg in config.raw.heartbeats.items():
        if only is not None and name != only:
            continue
        row = rows.get(name) or {}
        out.append(
            {
                "name": name,
                "interval_minutes": cfg.interval_minutes,
                "grace_minutes": cfg.grace_minutes,
                "escalation_policy": cfg.escalation_policy,
                "state": row.get("state", "new"),
                "last_ping_at": row.get("last_ping_at"),
                "due_at": row.get("due_at"),
                "ping_count": row.get("ping_count", 0),
                "alert_id": row.get("alert_id"),
            }
        )
    return out


def prune_pings(db: Database, cutoff: float, batch: int = 5000) -> int:
    cursor = db.execute(
        "DELETE FROM heartbeat_pings WHERE id IN (SELECT id FROM heartbeat_pings WHERE received_at < ? LIMIT ?)",
        [cutoff, batch],
    )
    return cursor.rowcount
