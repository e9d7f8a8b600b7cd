"""Maintenance windows: while one applies, messages are received, logged and mapped as usual and
alerts open and close, but do not page.

A window is a row of ``maintenance_windows``: added by hand (``alertd maintenance add``, the
API), or the current or next occurrence of a recurring ``[maintenance.NAME]`` (its times from
APScheduler's cron trigger, written as a row by the maintenance loop). It applies to messages of
its integrations (and, with ``match``, only those whose fields match, in the rules' condition
language) received between ``starts_at`` and ``ends_at``.

An alert opened under a window gets its escalation plan held (active, no due time) and
``alerts.maintenance_id``; its inbound-log row names the window. When the window ends (its
time, or ``alertd maintenance end``) the loop (``engine/maintenance_windows.py``) handles each
alert it held that is still open: ``on_end = "page"`` makes its first step due now, ``"quiet"``
stops the plan. Each is a timeline event in the same transaction. Different from an
integration's ``enabled = false``, which rejects the messages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from alertd import claims
from alertd.store.returning import inserted_id
from alertd.timeline import AlertEvent, add_event

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, MaintenanceConfig

ON_END = ("page", "quiet")
MAX_REASON_CHARS = 500
MAX_WINDOW_SECONDS = 31 * 86400


@dataclass(frozen=True)
class Window:
    id: int
    name: str | None
    ends_at: float
    on_end: str


# --- pure decisions --------------------------------------------------------------------------


def occurrence(cfg: MaintenanceConfig, now: float) -> tuple[float, float]:
    """The occurrence of a recurring window that is in progress at ``now``, else the next one:
    (start, end). Starts come from APScheduler's cron trigger in the window's zone; the end is
    the same wall-clock date (or the next day when ``end`` is not after ``start``), so that a
    window keeps its local hours across DST."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(cfg.timezone)
    trigger = CronTrigger(
        day_of_week=",".join(cfg.days), hour=cfg.start.hour, minute=cfg.start.minute, second=0, timezone=zone
    )
    # The longest a window lasts is under a day and an hour (DST): look back that far for one in progress.
    after = datetime.fromtimestamp(now - 90000, zone)
    while True:
        start = trigger.get_next_fire_time(None, after)
        assert start is not None  # a cron trigger with days always fires again
        end_day = start.date() + (timedelta(days=1) if cfg.end <= cfg.start else timedelta())
        end = datetime.combine(end_day, cfg.end, tzinfo=zone)
        if end.timestamp() > now:
            return start.timestamp(), end.timestamp()
        after = start + timedelta(seconds=1)


def targets(config: Config) -> list[str]:
    """What a window may name in ``integrations``: the integrations, and ``heartbeat:NAME`` for the
    alerts a missed heartbeat opens (matched like a message: ``heartbeat``, ``last_ping_at``)."""
    return [*config.integrations, *(f"heartbeat:{name}" for name in config.raw.heartbeats)]


def parse_match(text: str) -> dict[str, Any]:
    """``--match FIELD=VALUE`` as a condition (``{field, equals}``); ValueError with the reason."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ValueError(f"expected FIELD=VALUE (e.g. Message^AlarmName=prod-db-cpu); found {text[:80]!r}")
    if len(path) > 200 or len(value) > 500:
        raise ValueError("expected a field path of at most 200 characters and a value of at most 500")
    return {"field": path.strip(), "equals": value}


# --- rows ---------------------------------------------------------------------------------------


def add(
    db: Database,
    *,
    integrations: list[str],
    starts_at: float,
    ends_at: float,
    reason: str,
    actor: str,
    now: float,
    match: dict[str, Any] | None = None,
    on_end: str = "page",
    name: str | None = None,
) -> int:
    return inserted_id(
        db,
        """INSERT INTO maintenance_windows (name, integrations, match, starts_at, ends_at, on_end, reason,
               created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [
            name,
            json.dumps(integrations),
            None if match is None else json.dumps(match),
            starts_at,
            ends_at,
            on_end,
            reason,
            actor,
            now,
        ],
    )


def _row(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["integrations"] = json.loads(out["integrations"])
    out["match"] = None if out["match"] is None else json.loads(out["match"])
    return out


def get(db: Database, window_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM maintenance_windows WHERE id = ?", [window_id]).fetchone()
    return None if row is None else _row(row)


def listing(db: Database, now: float, *, include_ended: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    """Windows in progress and to come (with ``include_ended``, the latest ended ones too), by start."""
    where = "" if include_ended else "WHERE ended_at IS NULL"
    rows = db.execute(
        f"SELECT * FROM maintenance_windows {where} ORDER BY starts_at DESC, id DESC LIMIT ?", [limit]
    ).fetchall()
    out = []
    for row in reversed(rows):
        item = _row(row)
        if item["ended_at"] is not None:
            item["state"] = "ended"
        else:
            item["state"] = "active" if item["starts_at"] <= now < item["ends_at"] else "scheduled"
        out.append(item)
    return out


def applying(db: Database, integration: str, document: Any, now: float) -> Window | None:
    """The window that applies to a message of ``integration`` received at ``now``, if any (the
    one ending last, when several do), read from the table now. Evaluates match conditions: call
    it off the writer. (The inbound path keeps the windows in memory: WindowCache.)"""
    return load_windows(db).applying(integration, document, now)


# --- the windows in memory (the inbound path) ----------------------------------------------------

# Bumped by triggers on every change to maintenance_windows, whoever commits it (store/schema.py).
GENERATION_SQL = "SELECT generation FROM table_generations WHERE name = 'maintenance_windows'"
# The counter and every window not ended, in one statement (one snapshot): none gives one row of
# NULLs; a counter row deleted by hand gives a NULL generation (the windows are still read).
_LOAD_SQL = (
    f"SELECT ({GENERATION_SQL}), w.id, w.name, w.integrations, w.match, w.starts_at, w.ends_at, w.on_end "
    "FROM (SELECT 1 AS one) o LEFT JOIN maintenance_windows w ON w.ended_at IS NULL ORDER BY w.ends_at DESC"
)


@dataclass(frozen=True)
class _Cached:
    window: Window
    starts_at: float
    integrations: frozenset[str]
    match: Callable[[Any], bool] | None  # compiled once per load (mapping.compile_condition)


@dataclass(frozen=True)
class Windows:
    """The windows not ended, as read at ``generation`` (None: read just now, nothing to check)."""

    generation: int | None
    cached: tuple[_Cached, ...]  # by end, latest first

    def applying(self, integration: str, document: Any, now: float) -> Window | None:
        """``applying``'s answer from these windows."""
        doc = None
        for cached in self.cached:
            if not (cached.starts_at <= now < cached.window.ends_at) or integration not in cached.integrations:
                continue
            if cached.match is not None:
                from alertd.mapping import Document

                doc = doc or Document(document)
                if not cached.match(doc):
                    continue
            return cached.window
        return None


def load_windows(db: Database) -> Windows:
    """Every window not ended, read now with the generation counter, match conditions compiled."""
    from alertd.mapping import compile_condition
    from alertd.rules_config import Condition

    rows = db.execute(_LOAD_SQL).fetchall()
    cached = []
    for row in rows:
        if row[1] is None:
            continue
        match = None if row[4] is None else compile_condition(Condition.model_validate(json.loads(row[4])), ())
        window = Window(row[1], row[2], row[6], row[7])
        cached.append(_Cached(window, row[5], frozenset(json.loads(row[3])), match))
    return Windows(None if rows[0][0] is None else int(rows[0][0]), tuple(cached))


class WindowCache:
    """The windows not ended, kept in memory for the inbound path: a message's window is found
    without a read (``applying`` read the table on a reader connection for every message: after
    each commit a reader's page cache is cold, and that one statement was about half the CPU of
    a message's rules, issue 15).

    Correct across processes: the copy carries the generation counter it was read with (bumped by
    a trigger on every change to the table, by the CLI, the API, another instance), and the
    writer job checks it against the counter (``current``: one read per writer batch, on the
    writer's own warm connection). A placement from an outdated copy is refused there; the message
    is evaluated again, reading the windows anew (``fresh``). So a window committed before a
    message's evaluation applies to it, as when every message read the table."""

    def __init__(self) -> None:
        self._copy: Windows | None = None
        self._newest = -1  # the highest generation a writer batch has seen
        self._batch: tuple[int, int] | None = None  # (writer batch, generation then): the writer's own
        self._lock = threading.Lock()

    def windows(self, reader: Callable[[], Any], *, fresh: bool = False) -> Windows:
        """The copy (read anew with ``fresh``, or when a writer batch saw a newer generation)."""
        copy = self._copy
        if fresh or copy is None or (copy.generation or 0) < self._newest:
            copy = self._load(reader())
            if fresh:
                return Windows(None, copy.cached)
        return copy

    def _load(self, db: Database) -> Windows:
        copy = load_windows(db)
        if copy.generation is None:  # no counter (its row deleted by hand): no copy can be trusted
            with self._lock:
                self._copy = None
            return copy  # read just now: nothing to check
        with self._lock:  # two lane threads may load at once: the newer copy stays
            if self._copy is None or (self._copy.generation or 0) <= copy.generation:
                self._copy = copy
        return copy

    def current(self, db: Database, generation: int, batch: int) -> bool:
        """In the writer job (writer ``batch``): whether a copy at ``generation`` is still current.
        The counter is read once per batch: a change committed within the batch was committed
        after the messages in it were evaluated, which may miss it (as before)."""
        seen = self._batch
        if seen is None or seen[0] != batch:
            row = db.execute(GENERATION_SQL).fetchone()
            seen = self._batch = (batch, -1 if row is None else int(row[0]))  # no row: changed
        if seen[1] == generation:
            return True
        self._newest = max(self._newest, seen[1])
        return False


def still_applies(db: Database, window: Window, now: float) -> bool:
    """In the writer job: the window found off the writer has not ended meanwhile."""
    return (
        db.execute(
            "SELECT 1 FROM maintenance_windows WHERE id = ? AND ended_at IS NULL AND ends_at > ?", [window.id, now]
        ).fetchone()
        is not None
    )


def hold(db: Database, alert_id: int, window: Window, now: float) -> list[AlertEvent]:
    """An alert just opened under ``window``: its plan waits for the window's end (same transaction)."""
    db.execute("UPDATE alerts SET maintenance_id = ? WHERE id = ?", [window.id, alert_id])
    db.execute(
        "UPDATE escalations SET next_due = NULL, reason = ?, updated_at = ? WHERE alert_id = ? AND state = 'active'",
        [f"held by maintenance window #{window.id}", now, alert_id],
    )
    return [
        add_event(
            db,
            alert_id,
            "maintenance_suppressed",
            "maintenance",
            "engine",
            now,
            window_id=window.id,
            window=window.name,
            ends_at=window.ends_at,
        )
    ]


def alert_document(db: Database, alert_id: int) -> Any:
    """What a window's match sees of an alert held before: the message that opened it (its body
    parsed, as the inbound types give it to the rules), or a missed heartbeat's facts."""
    row = db.execute("SELECT integration, source_id, first_inbound_id FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        return {}
    if row["integration"].startswith("heartbeat:"):
        beat = db.execute("SELECT last_ping_at FROM heartbeats WHERE name = ?", [row["source_id"]]).fetchone()
        return {"heartbeat": row["source_id"], "last_ping_at": None if beat is None else beat[0]}
    body = db.execute("SELECT body FROM inbound_log WHERE id = ?", [row["first_inbound_id"]]).fetchone()
    if body is None:
        return {}
    from alertd import jsonlimits

    try:
        return jsonlimits.loads(bytes(body[0]))
    except ValueError:
        return {}


def covering(db: Database, alert_id: int, now: float, *, besides: int) -> Window | None:
    """Another window in progress at ``now`` that applies to the alert (the one ending last)."""
    rows = db.execute(
        "SELECT * FROM maintenance_windows WHERE ended_at IS NULL AND starts_at <= ? AND ends_at > ? AND id != ? "
        "ORDER BY ends_at DESC",
        [now, now, besides],
    ).fetchall()
    if not rows:
        return None
    from alertd.mapping import matches_condition  # the rule compiler: only where a window has rows to match

    integration = db.execute("SELECT integration FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    document = None
    for row in rows:
        item = _row(row)
        if integration not in item["integrations"]:
            continue
        if item["match"] is not None and document is None:
            document = alert_document(db, alert_id)
        if matches_condition(item["match"], document):
            return Window(item["id"], item["name"], item["ends_at"], item["on_end"])
    return None


def end(db: Database, window_id: int, now: float, actor: str) -> list[AlertEvent]:
    """End a window (at its time, or early by hand) and handle the open alerts it held; return the
    events of those released (paged or left quiet). An alert another window in progress applies
    to stays held, by that window, until it ends (its event is written, not returned)."""
    row = db.execute("SELECT * FROM maintenance_windows WHERE id = ?", [window_id]).fetchone()
    if row is None or row["ended_at"] is not None:
        return []
    db.execute(
        "UPDATE maintenance_windows SET ended_at = ?, ended_by = ?, "
        "ends_at = CASE WHEN ends_at < ? THEN ends_at ELSE ? END WHERE id = ?",
        [now, actor, max(now, row["starts_at"]), max(now, row["starts_at"]), window_id],
    )
    held = db.execute(
        "SELECT a.id FROM alerts a JOIN escalations e ON e.alert_id = a.id WHERE a.maintenance_id = ? "
        "AND a.status = 'open' AND e.state = 'active' AND e.next_due IS NULL",
        [window_id],
    ).fetchall()
    events = []
    for (alert_id,) in held:
        other = covering(db, alert_id, now, besides=window_id)
        if other is not None:
            db.execute("UPDATE alerts SET maintenance_id = ? WHERE id = ?", [other.id, alert_id])
            db.execute(
                "UPDATE escalations SET reason = ?, updated_at = ? WHERE alert_id = ?",
                [f"held by maintenance window #{other.id}", now, alert_id],
            )
            add_event(
                db,
                alert_id,
                "maintenance_ended",
                actor,
                "engine",
                now,
                window_id=window_id,
                window=row["name"],
                on_end="held",
                held_by=other.id,
                held_by_name=other.name,
                ends_at=other.ends_at,
            )
            continue
        if row["on_end"] == "page":
            db.execute(
                "UPDATE escalations SET next_due = ?, reason = NULL, updated_at = ? WHERE alert_id = ?",
                [now, now, alert_id],
            )
        else:
            db.execute(
                "UPDATE escalations SET state = 'stopped', reason = ?, updated_at = ? WHERE alert_id = ?",
                [f"maintenance window #{window_id} ended quietly", now, alert_id],
            )
        events.append(
            add_event(
                db,
                alert_id,
                "maintenance_ended",
                actor,
                "engine",
                now,
                window_id=window_id,
                window=row["name"],
                on_end=row["on_end"],
            )
        )
    return events


def end_due(db: Database, now: float) -> list[AlertEvent]:
    """End every window whose time is up."""
    events: list[AlertEvent] = []
    for (window_id,) in db.execute(
        claims.due_rows("SELECT id FROM maintenance_windows WHERE ended_at IS NULL AND ends_at <= ? ORDER BY ends_at"),
        [now],
    ).fetchall():
        events += end(db, window_id, now, "maintenance")
    return events


def sync_recurring(db: Database, config: Config, now: float) -> None:
    """Give each recurring window its current or next occurrence as a row; drop rows to come of
    windows no longer configured (one in progress runs to its end)."""
    recurring = config.raw.maintenance
    pending = {
        r["name"]
        for r in db.execute("SELECT name FROM maintenance_windows WHERE name IS NOT NULL AND ended_at IS NULL")
    }
    for name, cfg in recurring.items():
        if name in pending:
            continue
        starts_at, ends_at = occurrence(cfg, now)
        db.execute(
            """INSERT INTO maintenance_windows (name, integrations, match, starts_at, ends_at, on_end,
                   reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'config', ?) ON CONFLICT DO NOTHING""",
            [
                name,
                json.dumps(cfg.integrations),
                None if cfg.match is None else json.dumps(cfg.match),
                starts_at,
                ends_at,
                cfg.on_end,
                cfg.reason,
                now,
            ],
        )
    for name in pending - set(recurring):
        db.execute("DELETE FROM maintenance_windows WHERE name = ? AND ended_at IS NULL AND starts_at > ?", [name, now])


def sync_needed(db: Database, config: Config, now: float) -> bool:
    """Whether ``sync_recurring`` would write a row now (a read: the timer loop writes only then)."""
    pending = {
        r[0] for r in db.execute("SELECT name FROM maintenance_windows WHERE name IS NOT NULL AND ended_at IS NULL")
    }
    for name, cfg in config.raw.maintenance.items():
        if name in pending:
            continue
        starts_at, _ = occurrence(cfg, now)
        taken = db.execute(
            "SELECT 1 FROM maintenance_windows WHERE name = ? AND starts_at = ?", [name, starts_at]
        ).fetchone()
        if taken is None:
            return True
    return False


def next_end(db: Database) -> float | None:
    return db.execute("SELECT MIN(ends_at) FROM maintenance_windows WHERE ended_at IS NULL").fetchone()[0]
