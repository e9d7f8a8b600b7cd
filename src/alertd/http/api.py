"""The REST API under /api/v1, authenticated by bearer tokens (server.api_tokens)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

import trio
from quart import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException

from alertd import alerts, ledger
from alertd.commands import MAX_ID, actor_problem
from alertd.dryrun import dry_run
from alertd.http import api_models as m
from alertd.http.openapi import ApiError, api_doc, document, parse_body, parse_query
from alertd.readmodel import alert_detail
from alertd.runtime import Runtime

MAX_COMMAND_BODY = 4096
# Time columns, shown as RFC 3339 (UTC, with its offset) beside the unix epoch in <name>_epoch.
TIME_KEY_RE = re.compile(r"^(at|.+_at|next_due)$")
# Data taken from messages: left exactly as received.
OPAQUE_KEYS = frozenset({"fields", "headers", "body", "tags"})


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, default=str, ensure_ascii=False) + "\n",
        status=status,
        content_type="application/json",
    )


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def with_times(data: Any) -> Any:
    """``data`` with every time column as RFC 3339 plus ``<name>_epoch`` (the number it was)."""
    if isinstance(data, list):
        return [with_times(item) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in OPAQUE_KEYS:
            out[key] = value
        elif TIME_KEY_RE.match(key) and (value is None or type(value) in (int, float)):
            out[key] = None if value is None else rfc3339(value)
            out[f"{key}_epoch"] = value
        else:
            out[key] = with_times(value)
    return out


def parse_id(text: str) -> int | None:
    """A database id from a URL segment, or None when it is not one (not ASCII digits, or beyond 2^63-1)."""
    if not re.fullmatch(r"[0-9]{1,19}", text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def parse_since(text: str | None) -> float | str | None:
    """``since`` as a unix time or an RFC 3339 time with an offset; or the reason it is refused."""
    if text is None:
        return None
    reason = "since must be a unix time or an RFC 3339 time with an offset (2026-01-05T09:00:00Z)"
    if len(text) > 40:
        return reason
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,9})?", text):
        return float(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return reason
    if when.tzinfo is None:
        return reason
    value = when.timestamp()
    return value if math.isfinite(value) else reason


def _digest(text: str) -> bytes:
    # Hashing first makes every comparison the same length, so the time taken says nothing about the length.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def authenticate(runtime: Runtime, header: str) -> tuple[str | None, str | None]:
    """(the name of the API token presented, None) or (None, the reason it is refused)."""
    tokens = runtime.config.raw.server.api_tokens
    if not tokens:
        return None, "the API is disabled: set server.api_tokens in the config"
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return None, "expected Authorization: Bearer <token>"
    wanted = _digest(presented)
    name = None
    for token in tokens:  # no early exit: the time taken does not say which token matched
        if hmac.compare_digest(_digest(token.token.get_secret_value()), wanted):
            name = token.name
    return (name, None) if name is not None else (None, "invalid API token")


def check_token(runtime: Runtime, header: str) -> str | None:
    """The reason the Authorization header is refused, or None when it is good."""
    return authenticate(runtime, header)[1]


def requires_token(runtime: Runtime) -> Callable[[Callable[..., Awaitable[Response]]], Any]:
    """Refuse requests without a valid token; the token's name is in ``g.api_token`` for the view."""

    def decorate(view: Callable[..., Awaitable[Response]]) -> Any:
        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            name, problem = authenticate(runtime, request.headers.get("Authorization", ""))
            if problem is not None:
                return error(401, problem)
            g.api_token = name
            return await view(*args, **kwargs)

        return wrapper

    return decorate


def api_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")

    @bp.app_errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Any:
        # Under /api/ even a routing error (unknown path, wrong method, body too large) is one JSON line.
        if not request.path.startswith("/api/"):
            return exc
        return error(exc.code or 500, f"{exc.name}: {request.method} {request.path[:80]}")

    auth = requires_token(runtime)
    store = runtime.store
    alert_id_param = {"alert_ref": m.ID_SCHEMA}
    no_alert = (404, ("no such alert", ApiError))

    @bp.get("/openapi.json")
    @api_doc(
        "This document: the OpenAPI description of /api/v1", {200: ("OpenAPI 3.1", {"type": "object"})}, auth=False
    )
    async def openapi() -> Response:
        from quart import current_app

        from alertd import __version__

        cached = current_app.extensions.get("alertd_openapi")
        if cached is None:
            cached = current_app.extensions["alertd_openapi"] = document(current_app, __version__)
        return json_response(cached)

    @bp.get("/alerts")
    @api_doc("Alerts, newest first", {200: ("the alerts", [m.AlertSummary])}, query=m.AlertQuery)
    @auth
    async def list_alerts() -> Response:
        q = parse_query(m.AlertQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        rows = await store.read(lambda db: alerts.list_alerts(db, q.status, q.limit))
        return json_response(with_times(rows))

    @bp.get("/alerts/<alert_ref>")
    @api_doc(
        "One alert with its timeline, escalation plan and notifications",
        {200: ("the alert", m.AlertDetail), **dict([no_alert])},
        path=alert_id_param,
    )
    @auth
    async def show_alert(alert_ref: str) -> Response:
        alert_id = parse_id(alert_ref)
        if alert_id is None:
            return error(404, f"no alert #{alert_ref[:40]}: alert ids are whole numbers from 1 to 2^63-1")
        data = await store.read(lambda db: alert_detail(db, alert_id))
        return error(404, f"no alert #{alert_id}") if data is None else json_response(with_times(data))

    async def command(alert_ref: str, action: str) -> Response:
        from alertd.commands import AlertCommandError, run_alert_action, run_alert_command

        alert_id = parse_id(alert_ref)
        if alert_id is None:
            return error(404, f"no alert #{alert_ref[:40]}: alert ids are whole numbers from 1 to 2^63-1")
        data = await request.get_data()
        if len(data) > MAX_COMMAND_BODY:
            return error(413, f"the body must be at most {MAX_COMMAND_BODY} bytes")
        parsed = parse_body(m.ACTION_BODIES[action], data, '{"user": "alice"}')
        if isinstance(parsed, str):
            return error(400, parsed)
        body = parsed.model_dump(exclude_none=True)
        token = g.api_token
        user = body.get("user")
        if user is None:
            actor = f"api:{token}"  # the token acts in its own name; no configured user is claimed
        else:
            problem = actor_problem(runtime.config.raw, user)
            if problem is not None:
                return error(403, problem)
            actor = user
        args = {k: v for k, v in body.items() if k != "user"}
        if "minutes" in args:
            args = {"seconds": args.pop("minutes") * 60, **args}
        try:
            if action in ("ack", "close"):
                alert = await run_alert_command(runtime, action, alert_id, actor=actor, via="api", token=token)
            else:
                alert = await run_alert_action(runtime, action, alert_id, actor=actor, via="api", **args)
        except AlertCommandError as exc:
            return error(exc.status, str(exc))
        return json_response(with_times(alert))

    summaries = {
        "ack": "Acknowledge an alert (stops its escalation)",
        "close": "Close an alert",
        "unack": "Undo an acknowledgement (escalation resumes)",
        "snooze": "Snooze an acknowledged alert: it re-opens and pages after the given minutes",
        "escalate": "Escalate now, to the next level or the one given",
        "reassign": "Hand the alert to another escalation policy",
        "note": "Add a note to the timeline",
        "merge": "Merge this alert into another (it closes; later messages append to the other)",
    }

    def action_view(action: str) -> Callable[[str], Awaitable[Response]]:
        async def view(alert_ref: str) -> Response:
            return await command(alert_ref, action)

        view.__name__ = f"action_{action}"
        return api_doc(
            summaries[action],
            {
                200: ("the alert after the action", m.Alert),
                403: ("user is not a configured user", ApiError),
                **dict([no_alert]),
                409: ("the action does not apply to the alert as it is", ApiError),
            },
            body=m.ACTION_BODIES[action],
            path=alert_id_param,
        )(auth(view))

    for name in ("ack", "close", "snooze", "unack", "escalate", "reassign", "note", "merge"):
        bp.add_url_rule(f"/alerts/<alert_ref>/{name}", view_func=action_view(name), methods=["POST"])

    @bp.get("/inbound")
    @api_doc("The inbound log, newest first", {200: ("inbound messages", [m.InboundRow])}, query=m.InboundQuery)
    @auth
    async def inbound_list() -> Response:
        q = parse_query(m.InboundQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        since_ts = parse_since(q.since)
        if isinstance(since_ts, str):
            return error(400, since_ts)
        rows = await store.read(
            lambda db: ledger.query(db, integration=q.integration, outcome=q.outcome, since=since_ts, limit=q.limit)
        )
        return json_response(with_times(rows))

    @bp.get("/inbound/<inbound_ref>")
    @api_doc(
        "One inbound message with its headers and body",
        {200: ("the message", m.InboundMessage), 404: ("no such message", ApiError)},
        path={"inbound_ref": m.ID_SCHEMA},
    )
    @auth
    async def inbound_show(inbound_ref: str) -> Response:
        inbound_id = parse_id(inbound_ref)
        if inbound_id is None:
            return error(404, f"no inbound message #{inbound_ref[:40]}: ids are whole numbers from 1 to 2^63-1")
        row = await store.read(lambda db: ledger.get(db, inbound_id))
        if row is None:
            return error(404, f"no inbound message #{inbound_id}")
        body = row.pop("body")
        row["body"] = body.decode("utf-8", "replace")
        return json_response(with_times(row))

    @bp.post("/integrations/<name>/test")
    @api_doc(
        "Dry run: the decision the integration's rules make for a sample (nothing is stored)",
        {200: ("the decision and every extracted field", m.DryRun), 404: ("no such integration", ApiError)},
        query=m.DryRunQuery,
        raw_body="a message as the source sends it (at most server.max_body_bytes)",
    )
    @auth
    async def test_integration(name: str) -> Response:
        integration = runtime.config.integrations.get(name)
        if integration is None:
            return error(404, f"no integration named {name[:100]!r}")
        q = parse_query(m.DryRunQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        data = await request.get_data()
        limit = runtime.config.raw.server.max_body_bytes
        if len(data) > limit:
            return error(413, f"the body must be at most {limit} bytes (server.max_body_bytes)")
        try:
            # A worker thread: the rules' templates may use their whole time budget.
            result = await trio.to_thread.run_sync(dry_run, integration, data, q.assume)
        except RecursionError:
            # A plugin parsing JSON deeper than Python's recursion limit: bad input, not a 500.
            return error(400, "the body is nested too deeply")
        return json_response(result)  # type: ignore[arg-type]

    @bp.post("/integrations/<name>/replay")
    @api_doc(
        "Replay stored deliveries through the current rules (a dry run unless apply=true)",
        {200: ("what changes (or changed)", m.ReplayResult), 404: ("no such integration", ApiError)},
        query=m.ReplayQuery,
    )
    @auth
    async def replay_integration(name: str) -> Response:
        from alertd.http.replay_api import replay_request

        status, data = await replay_request(runtime, name, request.args)
        return json_response(with_times(data), status)

    return bp
