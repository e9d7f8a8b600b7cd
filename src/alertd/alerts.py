"""The alert lifecycle: open -> acknowledged -> closed, with a timeline of every change.

These functions run inside a writer job (one transaction with whatever caused
them: the inbound log row, an SMS reply, an API call). Each writes its timeline
rows (``alert_events``) in that transaction and returns them as AlertEvents; what
reacts to them hears it from the event dispatcher after commit. This module knows
no escalation plan: the coordinator (``alertd.apply``) starts and stops the plan in
the same transaction, so the alert and its plan never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from alertd.jsontext import dumps
from alertd.store.returning import inserted_id
from alertd.timeline import AlertEvent, add_event

if TYPE_CHECKING:
    from sqlite_utils import Database

    # OpenAlert is imported where it is made: the CLI's listings and ack import this module
    # without building the decisions' dataclasses.
    from alertd.decisions import Decision, OpenAlert

STATUSES = ("open", "acknowledged", "closed")


class Unknown(Enum):
    """Not looked up yet (a default that None cannot stand for: None is an answer)."""

    TOKEN = 0


UNKNOWN = Unknown.TOKEN


class AlertError(Exception):
    """A command that cannot apply (unknown alert, already closed ...)."""


# Following merge links from a duplicate to the alert it was merged into: at most this many hops.
MAX_MERGE_HOPS = 10


# The source's alert that is not closed (at most one: alerts_live_source) and its latest closed
# alert, in one statement: the dedup lookup runs for every inbound message.
_LOOKUP = (
    "SELECT id, status, merged_into FROM alerts WHERE integration = ? AND source_id = ? AND status != 'closed' "
    "UNION ALL SELECT * FROM (SELECT id, status, merged_into FROM alerts WHERE integration = ? AND source_id = ? "
    "AND status = 'closed' ORDER BY id DESC LIMIT 1) AS latest_closed"
)


# The same, after the accepted delivery of a source message id if there is one (ledger.first_delivery):
# an inbound message's write job asks both, in one statement.
_LOOKUP_DELIVERED = (
    "SELECT id, 'delivered' AS status, alert_id AS merged_into FROM inbound_log "
    f"WHERE integration = ? AND source_message_id = ? AND accepted = 1 UNION ALL {_LOOKUP}"
)


def lookup(db: Database, integration: str, source_id: str) -> tuple[OpenAlert | None, int | None]:
    """(``find_live``'s answer, the id of the source's latest closed alert or None): the second is
    what ``open_alert`` links a reopened source to, so a new alert needs no second lookup."""
    return _found(db, db.execute(_LOOKUP, [integration, source_id, integration, source_id]).fetchall())


def lookup_delivered(
    db: Database, integration: str, source_id: str, source_message_id: str
) -> tuple[tuple[int, int | None] | None, tuple[OpenAlert | None, int | None]]:
    """``ledger.first_delivery``'s answer and, when there is none, ``lookup``'s: in one statement."""
    rows = db.execute(
        _LOOKUP_DELIVERED, [integration, source_message_id, integration, source_id, integration, source_id]
    ).fetchall()
    for row in rows:
        if row[1] == "delivered":  # a redelivery: the alert state does not matter
            return (row[0], row[2]), (None, None)
    return None, _found(db, rows)


def _open_alert_class() -> type[OpenAlert]:
    """``alertd.decisions.OpenAlert``, imported on first use and kept: an import statement runs
    the import machinery (some 2 µs) at each call, and this is on every inbound message's path."""
    global _OPEN_ALERT
    if _OPEN_ALERT is None:
        from alertd.decisions import OpenAlert

        _OPEN_ALERT = OpenAlert
    return _OPEN_ALERT


_OPEN_ALERT: type[OpenAlert] | None = None


def _found(db: Database, rows: Sequence[Any]) -> tuple[OpenAlert | None, int | None]:
    live = latest = None
    for row in rows:
        if row[1] == "closed":
            latest = row
        else:
            live = (_OPEN_ALERT or _open_alert_class())(id=row[0], status=row[1])
    previous = None if latest is None else latest[0]
    if live is not None:
        return live, previous
    if latest is None or latest[2] is None:
        return None, previous
    return merge_target(db, latest[2]), previous


def find_live(db: Database, integration: str, source_id: str) -> OpenAlert | None:
    """The alert for (integration, source id) that is not closed, if any: the dedup lookup. When the
    source's latest alert was merged into another that is still not closed, that one (``merged``)."""
    return lookup(db, integration, source_id)[0]


def merge_target(db: Database, alert_id: int) -> OpenAlert | None:
    """``alert_id`` if it is not closed, else the alert it was merged into (following chains)."""
    current = alert_id
    for _ in range(MAX_MERGE_HOPS):
        row = db.execute("SELECT status, merged_into FROM alerts WHERE id = ?", [current]).fetchone()
        if row is None:
            return None
        if row[0] != "closed":
            return (_OPEN_ALERT or _open_alert_class())(id=current, status=row[0], merged=True)
        if row[1] is None:
            return None
        current = row[1]
    return None


def get(db: Database, alert_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        return None
    alert = dict(row)
    alert["tags"] = json.loads(alert["tags"])
    alert["fields"] = json.loads(alert["fields"])
    alert["recipients"] = json.loads(alert.get("recipients") or "[]")
    return alert


def timeline(db: Database, alert_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT id, at, kind, actor, via, detail FROM alert_events WHERE alert_id = ? ORDER BY id",
        [alert_id],
    ).fetchall()
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def append(db: Database, alert_id: int, integration: str, inbound_id: int, now: float) -> list[AlertEvent]:
    """A source repeated itself on an alert that is not closed."""
    # The count as of this repeat: a workflow reading the event later sees the count it was.
    # fetchall: SQLite ends the statement (an UPDATE ... RETURNING left open would hold the commit).
    count = db.execute(
        "UPDATE alerts SET append_count = append_count + 1, last_inbound_id = ?, updated_at = ? WHERE id = ? "
        "RETURNING append_count",
        [inbound_id, now, alert_id],
    ).fetchall()[0][0]
    return [add_event(db, alert_id, "appended", integration, "source", now, inbound_id=inbound_id, append_count=count)]


_INSERT_ALERT = """INSERT INTO alerts (integration, source_id, status, title, description, severity, url, tags,
       fields, escalation_policy, created_at, updated_at, first_inbound_id, last_inbound_id, previous_alert_id)
   VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"""
_INSERT_ROUTED_ALERT = """INSERT INTO alerts (integration, source_id, status, title, description, severity, url, tags,
       fields, escalation_policy, created_at, updated_at, first_inbound_id, last_inbound_id, previous_alert_id,
       route, recipients)
   VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"""


def open_alert(
    db: Database,
    integration: str,
    policy: str | None,
    decision: Decision,
    inbound_id: int | None,
    now: float,
    *,
    previous: int | Unknown | None = UNKNOWN,
    route: str | None = None,
    recipients: Sequence[str] = (),
) -> tuple[int, list[AlertEvent]]:
    """``previous``: the source's latest closed alert as ``lookup`` found it in this transaction
    (UNKNOWN: look it up here). ``route``, ``recipients``: the route the message took and the
    alert's owners (routing.Route), written with the row (as routing.assign would)."""
    assert decision.source_id is not None
    # A source that fires again after its alert closed gets a new alert linked to the old one.
    if isinstance(previous, Unknown):
        row = db.execute(
            "SELECT id FROM alerts WHERE integration = ? AND source_id = ? AND status = 'closed' "
            "ORDER BY id DESC LIMIT 1",
            [integration, decision.source_id],
        ).fetchone()
        previous = None if row is None else row[0]
    values = [
        integration,
        decision.source_id,
        decision.title,
        decision.description,
        decision.severity,
        decision.url,
        dumps(list(decision.tags)),
        dumps(decision.fields),
        policy,
        now,
        now,
        inbound_id,
        inbound_id,
        previous,
    ]
    if route is None:  # the columns' defaults (no route, no owners)
        alert_id = inserted_id(db, _INSERT_ALERT, values)
    else:
        alert_id = inserted_id(db, _INSERT_ROUTED_ALERT, [*values, route, dumps(list(recipients))])
    detail: dict[str, Any] = {"inbound_id": inbound_id, "title": decision.title}
    events = []
    if previous is not None:
        detail["previous_alert_id"] = previous
        events.append(add_event(db, alert_id, "reopened", integration, "source", now, **detail))
    else:
        events.append(add_event(db, alert_id, "opened", integration, "source", now, **detail))
    return alert_id, events


# The state change and its precondition in one statement: a row changed means it applied (no
# RETURNING: on SQLite that is one more step, and the GIL handed back once more, per statement).
_ACKNOWLEDGE = (
    "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, updated_at = ? "
    "WHERE id = ? AND status = 'open'"
)
_CLOSE = (
    "UPDATE alerts SET status = 'closed', closed_at = ?, closed_by = ?, updated_at = ? "
    "WHERE id = ? AND status != 'closed'"
)


def _status(db: Database, alert_id: int) -> str:
    row = db.execute("SELECT status FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        raise AlertError(f"no alert #{alert_id}")
    return str(row[0])


def acknowledge(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    # One statement when the alert is open (the usual case); the status is read only otherwise.
    if db.execute(_ACKNOWLEDGE, [now, actor, now, alert_id]).rowcount == 1:
        return [add_event(db, alert_id, "acknowledged", actor, via, now, **detail)]
    status = _status(db, alert_id)
    if status == "closed":
        raise AlertError(f"alert #{alert_id} is closed")
    return [add_event(db, alert_id, "ack_repeated", actor, via, now, **detail)]


def close(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    if db.execute(_CLOSE, [now, actor, now, alert_id]).rowcount == 1:
        return [add_event(db, alert_id, "closed", actor, via, now, **detail)]
    _status(db, alert_id)  # AlertError when unknown
    raise AlertError(f"alert #{alert_id} is already closed")


def list_alerts(db: Database, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    sql = (
        "SELECT id, integration, source_id, status, title, severity, created_at, updated_at, append_count, "
        "acknowledged_at, acknowledged_by, closed_at, closed_by FROM alerts"
    )
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [dict(r) for r in db.execute(sql, params).fetchall()]
