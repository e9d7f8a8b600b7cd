"""The REST API under /api/v1, authenticated by bearer tokens (server.api_tokens)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import trio
from quart import Blueprint, Response, request

from alertd import alerts, escalation, ledger
from alertd.dryrun import dry_run
from alertd.runtime import Runtime


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, default=str, ensure_ascii=False) + "\n",
        status=status,
        content_type="application/json",
    )


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def check_token(runtime: Runtime, header: str) -> str | None:
    """The reason the Authorization header is refused, or None when it is good."""
    tokens = runtime.config.raw.server.api_tokens
    if not tokens:
        return "the API is disabled: set server.api_tokens in the config"
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return "expected Authorization: Bearer <token>"
    ok = False
    for token in tokens:  # no early exit: the time taken does not say which token came close
        ok |= hmac.compare_digest(token.get_secret_value().encode(), presented.encode())
    return None if ok else "invalid API token"


def requires_token(runtime: Runtime) -> Callable[[Callable[..., Awaitable[Response]]], Any]:
    def decorate(view: Callable[..., Awaitable[Response]]) -> Any:
        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            problem = check_token(runtime, request.headers.get("Authorization", ""))
            if problem is not None:
                return error(401, problem)
            return await view(*args, **kwargs)

        return wrapper

    return decorate


def api_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    auth = requires_token(runtime)
    store = runtime.store

    @bp.get("/alerts")
    @auth
    async def list_alerts() -> Response:
        status = request.args.get("status")
        if status and status not in alerts.STATUSES:
            return error(400, f"status must be one of {', '.join(alerts.STATUSES)}")
        limit = request.args.get("limit", "100")
        if not limit.isdigit():
            return error(400, "limit must be a number")
        rows = await store.read(lambda db: alerts.list_alerts(db, status, int(limit)))
        return json_response(rows)

    @bp.get("/alerts/<int:alert_id>")
    @auth
    async def show_alert(alert_id: int) -> Response:
        def load(db: Any) -> dict[str, Any] | None:
            alert = alerts.get(db, alert_id)
            if alert is None:
                return None
            from alertd import outbox

            return {
                **alert,
                "timeline": alerts.timeline(db, alert_id),
                "escalation": escalation.plan(db, alert_id),
                "notifications": outbox.for_alert(db, alert_id),
            }

        data = await store.read(load)
        return error(404, f"no alert #{alert_id}") if data is None else json_response(data)

    async def command(alert_id: int, action: str) -> Response:
        from alertd.commands import AlertCommandError, run_alert_command

        body = await request.get_json(silent=True) or {}
        actor = str(body.get("user") or "api")
        try:
            alert = await run_alert_command(runtime, action, alert_id, actor=actor, via="api")
        except AlertCommandError as exc:
            return error(exc.status, str(exc))
        return json_response(alert)

    @bp.post("/alerts/<int:alert_id>/ack")
    @auth
    async def ack(alert_id: int) -> Response:
        return await command(alert_id, "ack")

    @bp.post("/alerts/<int:alert_id>/close")
    @auth
    async def close(alert_id: int) -> Response:
        return await command(alert_id, "close")

    @bp.get("/inbound")
    @auth
    async def inbound_list() -> Response:
        args = request.args
        since = args.get("since")
        try:
            since_ts = None if since is None else float(since)
            limit = int(args.get("limit", "50"))
        except ValueError:
            return error(400, "since must be a unix time and limit a number")
        rows = await store.read(
            lambda db: ledger.query(
                db,
                integration=args.get("integration"),
                outcome=args.get("outcome"),
                since=since_ts,
                limit=limit,
            )
        )
        return json_response(rows)

    @bp.get("/inbound/<int:inbound_id>")
    @auth
    async def inbound_show(inbound_id: int) -> Response:
        row = await store.read(lambda db: ledger.get(db, inbound_id))
        if row is None:
            return error(404, f"no inbound message #{inbound_id}")
        body = row.pop("body")
        row["body"] = body.decode("utf-8", "replace")
        return json_response(row)

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
        # A worker thread: the rules' templates may use their whole time budget.
        result = await trio.to_thread.run_sync(dry_run, integration, data, assume)
        return json_response(result)

    return bp
