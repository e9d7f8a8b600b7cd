"""What the console's list pages read: indexed queries, one page of rows at a time.

Alert detail is ``readmodel.alert_detail`` (the CLI's and the API's too); the inbound log's
rows are ``ledger``'s. Reads only.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from alertd import handshakes, ledger

PAGE = 50
# Counts on the tabs stop here ("10000+"): a count is a scan of the status index.
COUNT_CAP = 10_000
MAX_TEXT = 200


def like_escape(text: str) -> str:
    """``text`` as a literal part of a LIKE pattern (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def alert_page(
    db: Database,
    status: str,
    *,
    integration: str | None = None,
    severity: str | None = None,
    text: str | None = None,
    before: int | None = None,
    limit: int = PAGE,
) -> list[dict[str, Any]]:
    """One page of alerts of ``status``, newest first, with ``paged`` (the users notified)."""
    sql = (
        "SELECT id, integration, source_id, status, title, severity, created_at, updated_at, append_count, "
        "acknowledged_at, acknowledged_by, closed_at, closed_by FROM alerts WHERE status = ?"
    )
    params: list[Any] = [status]
    if integration:
        sql += " AND integration = ?"
        params.append(integration)
    if severity:
        sql += " AND severity = ?"
        params.append(severity)
    if text:
        sql += " AND lower(title) LIKE ? ESCAPE '\\'"
        params.append("%" + like_escape(text.lower()) + "%")
    if before is not None:
        sql += " AND id < ?"
        params.append(before)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    rows = [dict(r) for r in db.execute(sql, params).fetchall()]
    paged = paged_users(db, [r["id"] for r in rows])
    for row in rows:
        row["paged"] = paged.get(row["id"], [])
    return rows


def paged_users(db: Database, alert_ids: list[int]) -> dict[int, list[str]]:
    """Who was notified (not closure notices) for each alert: the outbox, by its alert index."""
    if not alert_ids:
        return {}
    marks = ",".join("?" * len(alert_ids))
    out: dict[int, list[str]] = {}
    for alert_id, user in db.execute(
        f"SELECT alert_id, user FROM outbox WHERE alert_id IN ({marks}) AND purpose != 'closed' "
        "GROUP BY alert_id, user ORDER BY alert_id, MIN(id)",
        alert_ids,
    ).fetchall():
        out.setdefault(alert_id, []).append(user)
    return out


def status_counts(db: Database) -> dict[str, int]:
    """Alerts per status, each capped at COUNT_CAP + 1 (shown as "10000+")."""
    return {
        status: db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM alerts WHERE status = ? LIMIT ?) AS capped", [status, COUNT_CAP + 1]
        ).fetchone()[0]
        for status in ("open", "acknowledged", "closed")
    }


def inbound_page(
    db: Database,
    *,
    integration: str | None = None,
    outcome: str | None = None,
    since: float | None = None,
    before: int | None = None,
    limit: int = PAGE,
) -> list[dict[str, Any]]:
    return ledger.query(db, integration=integration, outcome=outcome, since=since, before=before, limit=limit)


def inbound_for_alert(db: Database, alert: dict[str, Any], timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inbound messages that opened, appended to, acknowledged or closed the alert (at most 100)."""
    ids = {alert.get("first_inbound_id"), alert.get("last_inbound_id")}
    ids |= {e["detail"].get("inbound_id") for e in timeline if isinstance(e.get("detail"), dict)}
    wanted = sorted(i for i in ids if isinstance(i, int))[-100:]
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = db.execute(
        f"SELECT {ledger.LIST_COLUMNS} FROM inbound_log WHERE id IN ({marks}) ORDER BY id", wanted
    ).fetchall()
    return [dict(r) for r in rows]


def integration_summary(db: Database, name: str, inbound_type: Any) -> dict[str, Any]:
    """Counts by outcome, the last message and the source handshakes (an SNS topic's subscription)
    of one integration, each handshake as its inbound type describes it (alertd.handshakes)."""
    counts = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT outcome, COUNT(*) FROM inbound_log WHERE integration = ? GROUP BY outcome ORDER BY outcome",
            [name],
        ).fetchall()
    }
    last = db.execute(
        f"SELECT {ledger.LIST_COLUMNS} FROM inbound_log WHERE integration = ? ORDER BY received_at DESC LIMIT 1",
        [name],
    ).fetchone()
    shakes = []
    for row in handshakes.by_integration(db).get(name, []):
        label, text = handshakes.describe(row, inbound_type)
        shakes.append(
            {
                "label": label,
                "text": text,
                "state": row.state,
                "inbound_id": row.inbound_id,
                "error": row.detail.get("error"),
            }
        )
    return {"counts": counts, "last": dict(last) if last else None, "handshakes": shakes}


def integration_row(db: Database, name: str, integration: Any) -> dict[str, Any]:
    """One integration for /api/v1 (the console's integration page, without the URL): type,
    escalation policy, routes, counts by outcome, last message, handshakes. Never the token:
    it is the inbound URL's only secret."""
    cfg = integration.config
    summary = integration_summary(db, name, integration.inbound_type)
    last = summary["last"]
    return {
        "name": name,
        "type": cfg.type,
        "enabled": cfg.enabled,
        "escalation_policy": cfg.escalation_policy,
        "ruleset": integration.ruleset_name,
        "notify_on_close": cfg.notify_on_close,
        "routes": [
            {
                "name": route.name,
                "escalation_policy": route.escalation_policy,
                "when": route.when,
                "during": route.during.model_dump(mode="json") if route.during is not None else None,
            }
            for route in cfg.routes
        ],
        "counts": summary["counts"],
        "last_message_at": last["received_at"] if last else None,
        "last_inbound_id": last["id"] if last else None,
        "handshakes": summary["handshakes"],
    }


def user_alerts(db: Database, user: str, limit: int = 20) -> list[dict[str, Any]]:
    """Alerts ``user`` was paged for or acknowledged, newest first."""
    rows = db.execute(
        "SELECT id, integration, status, title, severity, created_at, acknowledged_by FROM alerts WHERE id IN ("
        " SELECT alert_id FROM outbox WHERE user = ? UNION SELECT id FROM alerts WHERE acknowledged_by = ?"
        ") ORDER BY id DESC LIMIT ?",
        [user, user, limit],
    ).fetchall()
    return [dict(r) for r in rows]


def pretty_body(body: bytes) -> str:
    """The body for people: JSON indented, and a JSON string in it that holds JSON (SNS's
    ``Message``) shown as the nested value it is; anything else as text."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if isinstance(data, dict):
        for key, value in list(data.items()):
            if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
                try:
                    data[key] = json.loads(value)
                except (ValueError, RecursionError):
                    pass
    try:
        return json.dumps(data, indent=2, ensure_ascii=False)
    except RecursionError:
        return text


# --- maintenance windows, heartbeats (the same reads as their CLI commands) ----------


def heartbeat_rows(db: Any, raw: Any) -> list[dict[str, Any]]:
    """Each configured heartbeat with its row's state, last ping and deadline (``alertd heartbeats``)."""
    from alertd import heartbeats

    found = heartbeats.status(db)
    out = []
    for name, cfg in raw.heartbeats.items():
        row = found.get(name) or {}
        out.append(
            {
                "name": name,
                "cfg": cfg,
                "state": row.get("state", "new"),  # not yet seen by the daemon
                "last_ping_at": row.get("last_ping_at"),
                "due_at": row.get("due_at"),
                "ping_count": row.get("ping_count", 0),
                "alert_id": row.get("alert_id") if row.get("state") == "missed" else None,
                "url": "",  # the secret ping URL: filled in for admins only
            }
        )
    return out


def heartbeat_tokens(db: Any, raw: Any) -> dict[str, str]:
    """Each heartbeat's URL token: the configured one, else the one the daemon stored
    (read only: the daemon stores them at start and on each reload)."""
    from alertd.heartbeats import TOKEN_PREFIX

    stored = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE ?", [TOKEN_PREFIX + "%"]).fetchall())
    tokens = {}
    for name, beat in raw.heartbeats.items():
        token = beat.token.get_secret_value() if beat.token is not None else stored.get(TOKEN_PREFIX + name)
        if token:
            tokens[name] = token
    return tokens
