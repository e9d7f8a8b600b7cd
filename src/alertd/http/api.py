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
from alertd.readmodel import alert_detail
from alertd.runtime import Runtime

MAX_LIMIT = 1000
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


def parse_limit(text: str | None, default: int) -> int | str:
    """The ``limit`` parameter, or the reason it is refused."""
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= MAX_LIMIT:
        return f"limit must be a whole number from 1 to {MAX_LIMIT}"
    return int(text)


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


# The keys each action's body may hold beside "user": (type, required).
ACTION_KEYS: dict[str, dict[str, tuple[type, bool]]] = {
    "ack": {},
    "close": {},
    "unack": {},
    "snooze": {"minutes": (float, True)},
    "escalate": {"level": (int, False)},
    "reassign": {"policy": (str, True)},
    "note": {"text": (str, True)},
    "merge": {"into": (int, True)},
}


def command_body(data: bytes, action: str = "ack") -> tuple[dict[str, Any], str | None]:
    """The body of an action: nothing, or a JSON object with an optional ``user`` string and the
    action's own keys (``ACTION_KEYS``)."""
    keys = ACTION_KEYS[action]
    example = '{"user": "alice"}'
    if not data.strip():
        body: Any = {}
    else:
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            return {}, f"the body must be a JSON object such as {example}"
        if not isinstance(body, dict):
            return {}, f"the body must be a JSON object such as {example}; found a JSON {type(body).__name__}"
    expected = ['"user"', *(f'"{k}"' for k in keys)]
    unknown = sorted(set(body) - {"user", *keys})
    if unknown:
        return {}, f"unknown key {unknown[0][:40]!r} in the body; expected only {', '.join(expected)}"
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        return {}, "user must be a string: the name of a configured user"
    for key, (kind, required) in keys.items():
        value = body.get(key)
        if value is None:
            if required:
                return {}, f"the body needs {key!r} ({'a number' if kind in (int, float) else 'a string'})"
            continue
        if kind is str and not isinstance(value, str):
            return {}, f"{key} must be a string"
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID):
            return {}, f"{key} must be a whole number from 1 to 2^63-1"
        if kind is float and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            return {}, f"{key} must be a number"
    return body, None


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

    @bp.get("/alerts")
    @auth
    async def list_alerts() -> Response:
        status = request.args.get("status")
        if status and status not in alerts.STATUSES:
            return error(400, f"status must be one of {', '.join(alerts.STATUSES)}")
        limit = parse_limit(request.args.get("limit"), 100)
        if isinstance(limit, str):
            return error(400, limit)
        rows = await store.read(lambda db: alerts.list_alerts(db, status, limit))
        return json_response(with_times(rows))

    @bp.get("/alerts/<alert_ref>")
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
        body, problem = command_body(data, action)
        if problem is not None:
            return error(400, problem)
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

    @bp.post("/alerts/<alert_ref>/ack")
    @auth
    async def ack(alert_ref: str) -> Response:
        return await command(alert_ref, "ack")

    @bp.post("/alerts/<alert_ref>/close")
    @auth
    async def close(alert_ref: str) -> Response:
        return await command(alert_ref, "close")

    def action_view(action: str) -> Callable[[str], Awaitable[Response]]:
        async def view(alert_ref: str) -> Response:
            return await command(alert_ref, action)

        view.__name__ = f"action_{action}"
        return view

    for name in ("snooze", "unack", "escalate", "reassign", "note", "merge"):
        bp.add_url_rule(f"/alerts/<alert_ref>/{name}", view_func=auth(action_view(name)), methods=["POST"])

    @bp.get("/inbound")
    @auth
    async def inbound_list() -> Response:
        args = request.args
        since_ts = parse_since(args.get("since"))
        if isinstance(since_ts, str):
            return error(400, since_ts)
        limit = parse_limit(args.get("limit"), 50)
        if isinstance(limit, str):
            return error(400, limit)
        rows = await store.read(
            lambda db: ledger.query(
                db,
                integration=args.get("integration"),
                outcome=args.get("outcome"),
                since=since_ts,
                limit=limit,
            )
        )
        return json_response(with_times(rows))

    @bp.get("/inbound/<inbound_ref>")
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
    @auth
    async def test_integration(name: str) -> Response:
        integration = runtime.config.integrations.get(name)
        if integration is None:
            return error(404, f"no integration named {name!r}")
        assume = request.args.get("assume")
        if assume not in (None, "open", "acknowledged"):
            return error(400, "assume must be open or acknowledged")
        data = await request.get_data()
        limit = runtime.config.raw.server.max_body_bytes
        if len(data) > limit:
            return error(413, f"the body must be at most {limit} bytes (server.max_body_bytes)")
        try:
            # A worker thread: the rules' templates may use their whole time budget.
            result = await trio.to_thread.run_sync(dry_run, integration, data, assume)
        except RecursionError:
            # A plugin parsing JSON deeper than Python's recursion limit: bad input, not a 500.
            return error(400, "the body is nested too deeply")
        return json_response(result)  # type: ignore[arg-type]

    @bp.post("/integrations/<name>/replay")
    @auth
    async def replay_integration(name: str) -> Response:
        from alertd.http.replay_api import replay_request

        status, data = await replay_request(runtime, name, request.args)
        return json_response(with_times(data), status)

    return bp
