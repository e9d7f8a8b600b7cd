"""One inbound request, start to finish: inbound plugin -> ledger -> mapper -> lifecycle.

``receive`` gets the integration its URL token names (looked up once, before the body
was read, by http/inbound_asgi.py), lets the integration's
inbound type verify and unwrap the request, evaluates the rules on a worker thread
(templates and regexes are driven by message data: they must never hold the
writer, which every integration, escalation and ack shares), then, in ONE writer
transaction, checks for a redelivery, settles the decision against the alert state
as it is at that moment, records the inbound log row and applies the decision
(``apply.py``: the alert's lifecycle, then its escalation plan). Only after that commit does
the sender get its 2xx; if the commit fails it gets a 503 and retries. Plugins
hear about alert changes from the event dispatcher (alertd.engine.events), which reads
the timeline rows this transaction wrote.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alertd import alerts, apply, handshakes, ledger, maintenance_windows, metrics, quiet, routing, thresholds
from alertd.config import Integration
from alertd.inbound import InboundBatch, InboundMessage, InboundRequest, Rejection
from alertd.inbound_summary import accepted_summary
from alertd.log import get_logger
from alertd.maintenance_windows import Window
from alertd.mapping import (
    COUNTED,
    DUPLICATE_DELIVERY,
    REJECTED,
    Details,
    Document,
    Evaluation,
    counted,
    evaluate,
    settle,
)
from alertd.runtime import Runtime
from alertd.store import StoreUnavailable
from alertd.unknown_tokens import UnknownTokenTally

if TYPE_CHECKING:
    from sqlite_utils import Database

log = get_logger("alertd.inbound")


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


@dataclass
class Recorded:
    inbound_id: int
    outcome: str
    alert_id: int | None
    opened: bool = False  # a new alert, whose first escalation step is due now


def _entry(request: InboundRequest, integration: Integration | None, **kw: Any) -> ledger.Entry:
    inbound_type = None if integration is None else integration.inbound_type
    return ledger.Entry(
        received_at=request.received_at,
        integration=None if integration is None else integration.name,
        header_prefixes=tuple(getattr(inbound_type, "stored_header_prefixes", ())),
        remote_addr=request.remote_addr,
        method=request.method,
        headers=request.headers,
        body=request.body,
        body_size=kw.pop("body_size", len(request.body)),
        **kw,
    )


async def reject(
    runtime: Runtime,
    request: InboundRequest,
    integration: Integration,
    status: int,
    reason: str,
    *,
    message_type: str | None = None,
    source_message_id: str | None = None,
    body_size: int | None = None,
) -> Reply:
    entry = _entry(
        request,
        integration,
        outcome=REJECTED,
        status=status,
        reason=reason,
        message_type=message_type,
        source_message_id=source_message_id,
        body_size=len(request.body) if body_size is None else body_size,
    )
    name = integration.name
    try:
        inbound_id = await runtime.store.write(lambda db: ledger.record(db, entry))
    except StoreUnavailable as exc:
        log.error("inbound.store_unavailable", integration=name, error=str(exc))
        return Reply(503, "storage unavailable; retry later\n")
    metrics.inc(metrics.INBOUND, name, REJECTED)
    log.info("inbound.rejected", inbound_id=inbound_id, integration=name, status=status, reason=reason)
    return Reply(status, f"{reason}\n")


async def reject_unknown(runtime: Runtime, request: InboundRequest, body_size: int | None) -> Reply:
    """404 for an unknown token. Such requests are nobody's traffic (scanners, a stale URL,
    someone filling the disk): one row per address and minute, with at most a short body
    prefix and a few headers; repeats are counted in memory and added to that row at most
    once a second (alertd.unknown_tokens). Logged only when a new row starts."""
    reason = "unknown integration token"
    tally: UnknownTokenTally = runtime.services.setdefault("unknown_tokens", UnknownTokenTally())
    now = request.received_at
    stale = tally.take_stale(now)
    bucket = tally.bucket(request.remote_addr, now)
    metrics.inc(metrics.INBOUND, "-", REJECTED)
    try:
        if bucket is not None:
            due = tally.due(bucket, now)
            counts = stale + ([(bucket.inbound_id, due)] if due else [])
            if counts:
                await runtime.store.write(lambda db: ledger.add_repeats(db, counts, now))
            return Reply(404, f"{reason}\n")
        entry = _entry(request, None, outcome=REJECTED, status=404, reason=reason, body_size=body_size)

        def job(db: Database) -> tuple[int | None, bool]:
            ledger.add_repeats(db, stale, now)
            return ledger.record_unknown(db, entry)

        inbound_id, new_row = await runtime.store.write(job)
    except StoreUnavailable as exc:
        # Still a 404: a sender with a wrong URL has nothing to retry.
        log.error("inbound.store_unavailable", integration=None, error=str(exc))
        return Reply(404, f"{reason}\n")
    if inbound_id is not None:
        tally.started(request.remote_addr, now, inbound_id)
    if new_row:
        log.info("inbound.rejected", inbound_id=inbound_id, integration=None, status=404, reason=reason)
    return Reply(404, f"{reason}\n")


def evaluate_rules(
    runtime: Runtime,
    integration: Any,
    message: InboundMessage,
    details: Details,
    place_at: float | None = None,
    fresh: bool = False,
) -> tuple[Evaluation, Placement | None]:
    """The costly part of the decision, run on a worker thread with a reader connection (by
    ``Store.write_prepared``, just before the write job): the writer and the event loop go on
    while a template or regex works through its budget. With ``place_at``, also where the
    message goes (``Placement``), in the same thread: the maintenance window from the copy in
    memory (``fresh``: read anew), checked by the write job (``placement_current``)."""
    name = integration.name
    doc = Document(message.document)
    if details == "open_rule":  # renders whatever the alert state: no need to look at it
        evaluation = evaluate(doc, integration.ruleset, None, details)
    else:
        db = runtime.store.reader()

        def find_open(source_id: str) -> Any:
            return alerts.find_live(db, name, source_id)

        evaluation = evaluate(doc, integration.ruleset, find_open, details)
    if place_at is None:
        return evaluation, None
    windows = window_cache(runtime).windows(runtime.store.reader, fresh=fresh)
    window = windows.applying(name, message.document, place_at)
    at = datetime.fromtimestamp(place_at, UTC)
    route = routing.choose(integration.config, message.document, at)
    return evaluation, Placement(window=window, route=route, generation=windows.generation)


def window_cache(runtime: Runtime) -> maintenance_windows.WindowCache:
    """The daemon's maintenance windows in memory (one per runtime: its store's)."""
    cache = runtime.services.get("window_cache")
    if cache is None:
        cache = runtime.services["window_cache"] = maintenance_windows.WindowCache()
    return cache


@dataclass(frozen=True)
class Placement:
    """What the message's content decides besides the rules: the maintenance window that applies
    and the route (escalation policy and owners). ``generation``: that of the windows' copy in
    memory the window was found in (None: read from the table)."""

    window: Window | None = None
    route: routing.Route | None = None
    generation: int | None = None


def placement_current(db: Database, runtime: Runtime, placement: Placement) -> bool:
    """In the write job: whether the copy of the windows ``placement`` was found in is current."""
    if placement.generation is None:
        return True
    return window_cache(runtime).current(db, placement.generation, runtime.store.writer.batches)


def _record_handshake(db: Database, integration: str, message: InboundMessage, inbound_id: int, now: float) -> None:
    shake = message.handshake
    if shake is not None:
        handshakes.record(db, integration, shake.key, shake.state, now, inbound_id=inbound_id, **shake.detail)


def record_message(
    db: Database,
    runtime: Runtime,
    integration: Any,
    request: InboundRequest,
    message: InboundMessage,
    now: float,
    evaluation: Evaluation | None,
    *,
    simulated: bool = False,
    placement: Placement | None = None,
) -> Recorded | None:
    """The writer job: dedup, settle the decision, log, apply (alertd.apply). All or nothing. None
    (and nothing written) when the alert state changed since ``evaluation`` so that it lacks the
    alert's details. ``placement``: found for the message off the writer (the window is checked
    again here)."""
    name = integration.name
    entry = _entry(
        request,
        integration,
        outcome="",
        status=message.status,
        message_type=message.message_type,
        source_message_id=message.source_message_id,
        simulated=simulated,
    )
    looked_up: tuple[alerts.OpenAlert | None, int | None] | None = None
    if message.source_message_id is not None:
        source_id = None if evaluation is None or message.outcome is not None else evaluation.source_id
        if source_id is None:
            first = ledger.first_delivery(db, name, message.source_message_id)
        else:  # the redelivery check and the dedup lookup in one statement
            first, looked_up = alerts.lookup_delivered(db, name, source_id, message.source_message_id)
        if first is not None:
            entry.outcome, entry.alert_id = DUPLICATE_DELIVERY, first[1]
            entry.reason = f"message id first delivered as inbound #{first[0]}"
            return Recorded(ledger.record(db, entry), DUPLICATE_DELIVERY, first[1])
    entry.accepted = True
    if message.outcome is not None:
        # Not for the mapper (a source handshake): log it, and the handshake's state with it.
        entry.outcome = message.outcome
        entry.reason = message.extra.get("reason", "")
        inbound_id = ledger.record(db, entry)
        _record_handshake(db, name, message, inbound_id, now)
        return Recorded(inbound_id, message.outcome, None)

    assert evaluation is not None, "a message for the mapper comes with its evaluation"
    config = None if runtime is None else runtime.config
    recorded = apply_evaluation(db, config, integration, entry, evaluation, now, placement, looked_up=looked_up)
    if recorded is not None:
        _record_handshake(db, name, message, recorded.inbound_id, now)
    return recorded


def apply_evaluation(
    db: Database,
    config: Any,
    integration: Any,
    entry: ledger.Entry,
    evaluation: Evaluation,
    now: float,
    placement: Placement | None = None,
    *,
    looked_up: tuple[alerts.OpenAlert | None, int | None] | None = None,
) -> Recorded | None:
    """Settle an evaluation against the alert state now, count it against the rule's threshold,
    log ``entry`` with the outcome and apply the decision at time ``now`` (inbound messages, and
    replays of them: replay.py). None (nothing written) when the evaluation lacks the details.
    ``looked_up``: ``alerts.lookup``'s answer for the evaluation's source id, read in this job."""
    name = integration.name
    if looked_up is None:
        looked_up = (None, None) if evaluation.source_id is None else alerts.lookup(db, name, evaluation.source_id)
    existing, previous = looked_up
    decision = settle(evaluation, existing)
    if decision is None:
        return None
    ruleset = integration.ruleset
    threshold = ruleset.threshold
    count_id = None
    if decision.action == "open" and threshold is not None:
        group = evaluation.group or ""
        matches, count_id = thresholds.count_match(db, name, group, threshold, now)
        if matches < threshold.count:
            decision = counted(decision, matches, threshold.count, threshold.within_seconds)
        else:
            thresholds.reset(db, name, group)
            count_id = None
    entry.outcome, entry.reason, entry.alert_id = decision.outcome, decision.reason, decision.alert_id
    entry.decision = decision.as_dict()
    window = None if placement is None else placement.window
    if window is not None and not maintenance_windows.still_applies(db, window, now):
        window = None
    if window is not None:
        entry.maintenance_id = window.id
        if decision.action == "open":
            note = f"maintenance window #{window.id}{f' ({window.name})' if window.name else ''}: not paged"
            entry.reason = f"{entry.reason}; {note}" if entry.reason else note
    route = None if placement is None else placement.route
    if route is not None and route.name != routing.DEFAULT_ROUTE:
        entry.decision["route"] = route.name
    inbound_id = ledger.record(db, entry)
    if count_id is not None:
        thresholds.link(db, count_id, inbound_id)
    alert_id = apply.apply_decision(
        db, config, integration, decision, inbound_id, now, route=route, window=window, previous=previous
    )
    # An opening message's inbound-log row gets the new alert's id from the alert row's insert
    # (trigger inbound_log_opened_alert: it names this row as first_inbound_id).
    # Only a match of the open rule keeps the alert alive (not an ack rule's repeat).
    if ruleset.quiet_seconds is not None and evaluation.matched == "open" and alert_id is not None:
        quiet.arm(db, alert_id, name, ruleset.quiet_seconds, now)
    return Recorded(inbound_id, decision.outcome, alert_id, opened=decision.action == "open")


async def commit_message(
    runtime: Runtime,
    integration: Any,
    request: InboundRequest,
    message: InboundMessage,
    now: float,
    *,
    simulated: bool = False,
) -> Recorded:
    """Evaluate the rules and record the message in one write (the dispatcher does the rest).

    Used by deliveries and by ``alertd simulate`` alike (``simulated`` marks the inbound-log row).
    """

    recorded: Recorded | None = None
    if message.outcome is not None:  # a subscription handshake has nothing for the mapper (and opens nothing)
        recorded = await runtime.store.write(
            lambda db: record_message(db, runtime, integration, request, message, now, None, simulated=simulated)
        )
        assert recorded is not None
        return recorded
    # Optimistic: evaluate against the alert state read now; the write job re-checks it. In
    # the rare case an alert closed in between and the message now opens one, evaluate again
    # rendering the details whatever the state (so a second round always settles).
    # A placement found in an outdated copy of the windows (one changed meanwhile) is refused the
    # same way: the second round reads them anew.
    rounds: tuple[Details, ...] = ("opening", "open_rule")
    placed: list[Placement] = []  # found in the first round, kept for the second
    for details in rounds:
        # One hop: a worker thread evaluates, then queues the write job itself.
        prepare = functools.partial(
            evaluate_rules, runtime, integration, message, details, None if placed else now, details != rounds[0]
        )

        def job(db: Database, prepared: tuple[Evaluation, Placement | None]) -> Recorded | None:
            evaluation, placement = prepared
            if placement is not None:
                if not placement_current(db, runtime, placement):
                    return None  # (nothing written)
                placed.append(placement)
            return record_message(
                db,
                runtime,
                integration,
                request,
                message,
                now,
                evaluation,
                simulated=simulated,
                placement=placed[0] if placed else None,
            )

        recorded = await runtime.store.write_prepared(prepare, job)
        if recorded is not None:
            break
    assert recorded is not None
    if recorded.opened:
        # The page's hot path: the escalation loop need not wait for the dispatcher's pass over
        # the 'opened' event (which wakes it too). A wake-up only; no effect leaves here.
        runtime.wake("escalation")
    return recorded


async def commit_batch(
    runtime: Runtime,
    integration: Any,
    request: InboundRequest,
    batch: InboundBatch,
    now: float,
    *,
    simulated: bool = False,
) -> list[Recorded]:
    """Record every message of a batch in ONE write: one inbound-log row and decision each, in
    order, committed together (the sender's 2xx waits for it). Like ``commit_message``, a message
    whose alert state changed since its evaluation is evaluated again and written in a second job."""
    requests = [request if m.body is None else dataclasses.replace(request, body=m.body) for m in batch.messages]
    pending = list(range(len(batch.messages)))
    recorded: dict[int, Recorded] = {}
    placements: dict[int, Placement] = {}
    rounds: tuple[Details, ...] = ("opening", "open_rule")
    for details in rounds:

        def evaluate_all(indices: list[int] = pending, details: Details = details) -> list[Evaluation | None]:
            db = runtime.store.reader()
            windows = None
            out: list[Evaluation | None] = []
            for i in indices:
                message = batch.messages[i]
                if message.outcome is not None:
                    out.append(None)
                    continue
                find_open = (
                    (lambda sid: alerts.find_live(db, integration.name, sid)) if details != "open_rule" else None
                )
                out.append(evaluate(Document(message.document), integration.ruleset, find_open, details))
                if i not in placements:  # where each message goes (window, route), as for single messages
                    if windows is None:  # the copy in memory; read anew in a second round (as commit_message)
                        windows = window_cache(runtime).windows(runtime.store.reader, fresh=details != rounds[0])
                    window = windows.applying(integration.name, message.document, now)
                    at = datetime.fromtimestamp(now, UTC)
                    route = routing.choose(integration.config, message.document, at)
                    placements[i] = Placement(window=window, route=route, generation=windows.generation)
            return out

        def job(
            db: Database,
            evaluations: list[Evaluation | None],
            indices: list[int] = pending,
            first: bool = details == rounds[0],
        ) -> dict:
            done: dict[int, Recorded] = {}
            # Placements are checked in the first round (a second one's are read anew, or checked then).
            if first and not all(placement_current(db, runtime, placements[i]) for i in indices if i in placements):
                placements.clear()  # an outdated copy of the windows: all again, with the windows read anew
                return done
            for i, evaluation in zip(indices, evaluations, strict=True):
                result = record_message(
                    db,
                    runtime,
                    integration,
                    requests[i],
                    batch.messages[i],
                    now,
                    evaluation,
                    simulated=simulated,
                    placement=placements.get(i),
                )
                if result is not None:
                    done[i] = result
            return done

        # One hop: the worker thread that evaluates queues the write job itself.
        recorded.update(await runtime.store.write_prepared(evaluate_all, job))
        pending = [i for i in pending if i not in recorded]
        if not pending:
            break
    assert not pending
    return [recorded[i] for i in range(len(batch.messages))]


def _log_accepted(runtime: Runtime, name: str, recorded: Recorded) -> None:
    """A line per second and integration (alertd.inbound_summary); per message at debug level."""
    log.debug(
        "inbound.recorded",
        inbound_id=recorded.inbound_id,
        integration=name,
        outcome=recorded.outcome,
        alert_id=recorded.alert_id,
    )
    accepted_summary(runtime).add(runtime, name, recorded.outcome, recorded.inbound_id)


def _after_commit(runtime: Runtime, integration: Integration, message: InboundMessage) -> None:
    """The inbound type's ``after_commit`` in a task of its own, for the message types it names in
    ``after_commit_for`` (all without it): a task per message was a task spawn and a step on the
    event loop's thread for every SNS notification, where only confirmations have work."""
    inbound_type = integration.inbound_type
    after = getattr(inbound_type, "after_commit", None)
    if after is None:
        return
    wanted = getattr(inbound_type, "after_commit_for", None)
    if wanted is None or message.message_type in wanted:
        runtime.spawn(after, message, integration, runtime)


async def receive(
    runtime: Runtime,
    integration: Integration | None,
    request: InboundRequest,
    *,
    oversize: bool = False,
    body_size: int | None = None,
    timed_out: bool = False,
) -> Reply:
    """Answer one request to ``/in/{token}``; ``integration`` is the token's (the caller looked it
    up before reading the body), None for an unknown token."""
    if integration is None:
        return await reject_unknown(runtime, request, body_size)
    name = integration.name
    if not integration.config.enabled:
        return await reject(runtime, request, integration, 404, "integration is disabled", body_size=body_size)
    if request.method != "POST":
        return await reject(runtime, request, integration, 405, f"method {request.method} not allowed; use POST")
    if timed_out:
        timeout = runtime.config.raw.server.body_timeout
        return await reject(
            runtime, request, integration, 408, f"body not received within {timeout:g} s", body_size=body_size
        )
    if oversize:
        limit = runtime.config.raw.server.max_body_bytes
        return await reject(
            runtime, request, integration, 413, f"body larger than the limit of {limit} bytes", body_size=body_size
        )
    try:
        result = await integration.inbound_type.handle(request, integration, runtime)
    except Exception as exc:
        log.error("inbound.plugin_failed", exc_info=True, integration=name)
        return await reject(
            runtime,
            request,
            integration,
            500,
            f"inbound type {integration.inbound_type.name} failed: {type(exc).__name__}",
        )
    if isinstance(result, Rejection):
        return await reject(
            runtime,
            request,
            integration,
            result.status,
            result.reason,
            message_type=result.message_type,
            source_message_id=result.source_message_id,
        )
    parts = result.messages if isinstance(result, InboundBatch) else [result]
    shakes = [m.handshake for m in parts if m.handshake is not None]
    why = next((w for s in shakes if (w := handshakes.problem(s.key, s.state, s.detail)) is not None), None)
    if why is not None:
        return await reject(
            runtime,
            request,
            integration,
            400,
            f"handshake not acceptable: {why}",
            message_type=getattr(result, "message_type", None),
            source_message_id=getattr(result, "source_message_id", None),
        )
    now = runtime.clock.now()
    if isinstance(result, InboundBatch):
        return await _receive_batch(runtime, integration, request, result, now)
    try:
        recorded = await commit_message(runtime, integration, request, result, now)
    except StoreUnavailable as exc:
        log.error("inbound.store_unavailable", integration=name, error=str(exc))
        return Reply(503, "storage unavailable; retry later\n")
    except Exception as exc:
        # A bug, not bad input: keep the message in the log and let the sender retry.
        log.error("inbound.decide_failed", exc_info=True, integration=name)
        return await reject(
            runtime,
            request,
            integration,
            500,
            f"internal error while deciding: {type(exc).__name__}",
            message_type=result.message_type,
            source_message_id=result.source_message_id,
        )
    metrics.inc(metrics.INBOUND, name, _outcome_label(recorded.outcome))
    _log_accepted(runtime, name, recorded)
    if recorded.outcome != DUPLICATE_DELIVERY and runtime.nursery is not None:
        _after_commit(runtime, integration, result)
    return Reply(result.status, result.response + "\n")


def _outcome_label(outcome: str) -> str:
    """The metrics label of an outcome: one for every "Counted (k of n)" (a label value per k
    would grow the series without bound)."""
    return COUNTED if outcome.startswith(f"{COUNTED} (") else outcome


async def _receive_batch(
    runtime: Runtime, integration: Any, request: InboundRequest, batch: InboundBatch, now: float
) -> Reply:
    name = integration.name
    try:
        recorded = await commit_batch(runtime, integration, request, batch, now)
    except StoreUnavailable as exc:
        log.error("inbound.store_unavailable", integration=name, error=str(exc))
        return Reply(503, "storage unavailable; retry later\n")
    except Exception as exc:
        log.error("inbound.decide_failed", exc_info=True, integration=name)
        return await reject(runtime, request, integration, 500, f"internal error while deciding: {type(exc).__name__}")
    for one in recorded:
        metrics.inc(metrics.INBOUND, name, _outcome_label(one.outcome))
        _log_accepted(runtime, name, one)
    return Reply(batch.status, batch.response + "\n")
