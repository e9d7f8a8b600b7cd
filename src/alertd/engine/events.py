"""The event dispatcher: the one road from a committed change to everything that reacts to it.

Writers (inbound requests, commands from people, the CLI in another process, the
escalation and delivery loops) only commit: the change and its ``alert_events``
row in one transaction. This loop reads the rows past its cursor, in id order, and
hands each event to the subscribers: workflows first (``alertd.workflows``: their runs and
effects commit in one write, once per (workflow, event id)), then the other loops' wake-ups (a
new plan is due, notifications are queued), in-process listeners (the console's live view), the
metrics, and the plugin hook ``alertd_alert_event``.
The cursor (``event_cursors`` row ``dispatch``) advances only after dispatch, so
delivery is at least once: a process killed in between hands the same events out
again after restart, with the same ids.

Woken after every local commit (``Store.on_commit``); polls as the fallback, so
writes from another process are seen within POLL_SECONDS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import trio

from alertd import alerts, metrics, workflows
from alertd.claims import DISPATCH
from alertd.engine.instance import hold
from alertd.log import get_logger
from alertd.runtime import Runtime
from alertd.store import StoreUnavailable
from alertd.timeline import AlertEvent, EventKind

if TYPE_CHECKING:
    from sqlite_utils import Database

log = get_logger("alertd.engine.events")

CURSOR = "dispatch"
BATCH = 500
POLL_SECONDS = 0.25
SAVE_SECONDS = 0.5

# Which loop has new work when it sees an event of a kind: latency, not correctness (each
# loop also re-reads the database on its own).
WAKES: dict[str, tuple[str, ...]] = {
    EventKind.OPENED: ("escalation",),  # its first step is due now
    EventKind.REOPENED: ("escalation",),
    EventKind.ESCALATED: ("delivery",),  # notifications queued
    EventKind.OWNERS_PAGED: ("delivery",),
    EventKind.CLOSED: ("delivery",),  # closure notices may be queued
    EventKind.NOTIFICATION_FAILOVER: ("delivery",),  # the next contact method is due now
    EventKind.MAINTENANCE_ENDED: ("escalation",),  # a held plan may be due now
    EventKind.SNOOZED: ("escalation",),  # its end is a timer
    EventKind.UNACKNOWLEDGED: ("escalation",),  # the plan starts again now
    EventKind.ESCALATION_REQUESTED: ("escalation",),
    EventKind.REASSIGNED: ("escalation",),
    EventKind.WORKFLOW_ACTION: ("delivery",),  # a workflow may have queued notices or webhooks
}


def loops_to_wake(kinds: Iterable[str]) -> set[str]:
    return {loop for kind in kinds for loop in WAKES.get(kind, ())}


# --- the cursor and the rows (run in a writer job or on a reader) -------------------------


def read_cursor(db: Database, name: str = CURSOR) -> int:
    row = db.execute("SELECT last_id FROM event_cursors WHERE name = ?", [name]).fetchone()
    return 0 if row is None else int(row[0])


def save_cursor(db: Database, last_id: int, now: float, name: str = CURSOR) -> None:
    # MAX: a slower writer of an older position never moves the cursor back.
    db.execute(
        "INSERT INTO event_cursors (name, last_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET last_id = CASE WHEN excluded.last_id > event_cursors.last_id "
        "THEN excluded.last_id ELSE event_cursors.last_id END, updated_at = excluded.updated_at",
        [name, last_id, now],
    )


def events_after(db: Database, after: int, limit: int = BATCH, *, snapshots: bool = False) -> list[AlertEvent]:
    """The next events past ``after``, oldest first; with ``snapshots``, each with its alert row
    as it is now (read once per alert)."""
    rows = db.execute(
        "SELECT id, alert_id, at, kind, actor, via, detail FROM alert_events WHERE id > ? ORDER BY id LIMIT ?",
        [after, limit],
    ).fetchall()
    cache: dict[int, dict] = {}
    events = []
    for row in rows:
        alert = {}
        if snapshots:
            if row["alert_id"] not in cache:
                cache[row["alert_id"]] = alerts.get(db, row["alert_id"]) or {}
            alert = cache[row["alert_id"]]
        events.append(
            AlertEvent(
                kind=row["kind"],
                alert_id=row["alert_id"],
                actor=row["actor"],
                via=row["via"],
                at=row["at"],
                alert=alert,
                detail=json.loads(row["detail"]),
                id=row["id"],
            )
        )
    return events


# --- the subscribers ------------------------------------------------------------------------


def dispatch_local(runtime: Runtime, events: list[AlertEvent]) -> None:
    """What every instance does with the events it sees: wake its loops (they are what a page
    waits for), tell its in-process listeners (the console's live view)."""
    for loop in sorted(loops_to_wake(e.kind for e in events)):
        runtime.wake(loop)
    if not events:
        return
    for listener in list(runtime.listeners):
        try:
            listener(events)
        except Exception:
            log.error("events.listener_failed", exc_info=True)


def dispatch(runtime: Runtime, events: list[AlertEvent], seen: int = 0) -> None:
    """Hand a batch to every subscriber: this instance's own (for events past ``seen``) first,
    then metrics, then plugins. A failing plugin is logged; it does not stop the others."""
    dispatch_local(runtime, [e for e in events if (e.id or 0) > seen])
    hook = runtime.pm.hook.alertd_alert_event
    listening = bool(hook.get_hookimpls())  # (a call per event to no plugin is not free)
    for event in events:
        metrics.inc(metrics.ALERT_EVENTS, event.kind)
        if event.kind == EventKind.ESCALATED:
            metrics.ESCALATION_STEPS.inc()
        if not listening:
            continue
        try:
            hook(event=event, runtime=runtime)
        except Exception:
            log.error(
                "plugin.alert_event_failed", exc_info=True, kind=event.kind, alert_id=event.alert_id, event_id=event.id
            )


async def _first_cursor(runtime: Runtime) -> int:
    """The saved cursor. A database that does not answer at this moment is waited for: an ended
    dispatcher would hand no event to plugins, workflows or the other loops until a restart."""
    while True:
        try:
            return await runtime.store.read(read_cursor)
        except Exception:
            log.error("events.read_failed", exc_info=True)
            await runtime.idle(runtime.wakeup_event("events"), runtime.clock.now() + 1.0, more_now=False)


async def events_loop(runtime: Runtime) -> None:
    """Read past the cursor, dispatch, wait for a commit or the poll. The cursor is saved by a
    task of its own: dispatch never waits for an fsync (a page waits on this loop).

    With several instances on one database, one holds the ``dispatch`` lock and hands events to
    workflows, metrics and plugins (once per cluster); the others follow the events with a
    cursor of their own in memory, for their wake-ups and listeners only, and take over from
    the saved cursor when the lock's lease expires (at least once: the events past it again)."""
    store = runtime.store
    try:
        cursor = await _first_cursor(runtime)
    except BaseException:
        runtime.cluster.cursor_saved.set()  # stopped before dispatching: no cursor to save
        raise
    seen = cursor  # how far this instance's own subscribers (wake-ups, listeners) have been told
    leading = False
    moved = trio.Event()
    saved = [cursor]  # the last cursor saved (by _save_cursor_loop)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_save_cursor_loop, runtime, saved, lambda: cursor, lambda: moved)
            while True:
                wake = runtime.wakeup_event("events")
                if await hold(runtime, DISPATCH) != leading:
                    leading = not leading
                    if leading:
                        cursor = await _saved_cursor(runtime, cursor)
                    log.info("events.leading" if leading else "events.following", cursor=cursor, seen=seen)
                listening = leading and bool(runtime.pm.hook.alertd_alert_event.get_hookimpls())
                start = cursor if leading else seen
                try:
                    events = await store.read(lambda db, c=start, s=listening: events_after(db, c, snapshots=s))
                except Exception:
                    log.error("events.read_failed", exc_info=True)
                    events = []
                if not leading:
                    dispatch_local(runtime, events)
                else:
                    if events and runtime.config.raw.workflows:
                        # The wake-ups a page waits for go first; the workflows' write must not delay them.
                        for loop in sorted(loops_to_wake(e.kind for e in events)):
                            runtime.wake(loop)
                    if events and not await _workflows(runtime, events):
                        await trio.sleep(WORKFLOW_RETRY_SECONDS)
                        continue  # the same batch again: the cursor stays until workflows have seen it
                    if events:
                        dispatch(runtime, events, seen)
                        last = events[-1].id
                        assert last is not None
                        cursor = last
                        moved.set()
                        moved = trio.Event()
                if events:
                    seen = max(seen, events[-1].id or 0)
                if len(events) == BATCH:
                    continue
                with trio.move_on_after(POLL_SECONDS):
                    await wake.wait()
    finally:
        # After the nursery: the loop above can no longer dispatch (a read that was under way
        # when the stop came returns, and its batch is dispatched, before the cancel lands).
        await _last_save(runtime, saved[0], cursor)


async def _saved_cursor(runtime: Runtime, fallback: int) -> int:
    """Where the cluster's dispatch stands: the saved cursor (the last leader's)."""
    try:
        return await runtime.store.read(read_cursor)
    except Exception:
        log.error("events.read_failed", exc_info=True)
        return fallback


WORKFLOW_RETRY_SECONDS = 0.5


async def _workflows(runtime: Runtime, events: list[AlertEvent]) -> bool:
    """Hand the batch to the workflows (one write); False when the write failed (try again).
    A workflow's own failures are recorded by it, not raised: only the store fails here."""
    raw = runtime.config.raw
    if not raw.workflows or not {e.kind for e in events} & workflows.relevant_kinds(raw):
        return True
    config = runtime.config
    try:
        armed = await runtime.store.write(lambda db: workflows.handle_events(db, config, events, runtime.clock.now()))
    except Exception:
        log.error("events.workflows_failed", exc_info=True)
        return False
    if armed:
        runtime.wake("escalation")  # a timer to sleep towards
    return True


async def _save_cursor_loop(
    runtime: Runtime, saved: list[int], current: Callable[[], int], moved: Callable[[], trio.Event]
) -> None:
    """Persist the dispatcher's position after it moved (only ever to events already dispatched);
    ``saved[0]`` is the last position saved. The save at shutdown is _last_save's."""
    while True:
        cursor = current()
        if cursor == saved[0]:
            await moved().wait()
            continue
        try:
            await runtime.store.write(lambda db, c=cursor: save_cursor(db, c, runtime.clock.now()))
            saved[0] = cursor
        except StoreUnavailable as exc:
            # Kept in memory and tried again; until then a restart hands these events out again.
            log.warning("events.cursor_not_saved", cursor=cursor, error=str(exc))
        # At most one save per interval: under load a save per pass would double the
        # fsyncs. The price: a crash re-sends up to that much (at least once anyway).
        await trio.sleep(SAVE_SECONDS)


async def _last_save(runtime: Runtime, saved: int, cursor: int) -> None:
    """Once more at shutdown, so that a clean restart or the next leader hands nothing out twice;
    then the dispatch lock may go (engine/instance.py waits for ``cursor_saved``)."""
    try:
        if cursor != saved:
            with trio.move_on_after(5, shield=True):
                try:
                    await runtime.store.write(lambda db: save_cursor(db, cursor, runtime.clock.now()))
                except StoreUnavailable:
                    pass
    finally:
        runtime.cluster.cursor_saved.set()
