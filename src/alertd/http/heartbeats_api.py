"""Heartbeats over the REST API (the same bearer tokens as the rest of /api/v1).

``GET /api/v1/heartbeats``: each configured heartbeat with its state, last ping and next deadline
(``due_at``: missed if no ping comes before it). Never its token or ping URL: a token in an API
answer would reach logs and scripts that have no business pinging.
"""

from __future__ import annotations

from quart import Blueprint, Response

from alertd import heartbeats
from alertd.http import api_models as m
from alertd.http.api import error, json_response, requires_token, with_times
from alertd.http.openapi import ApiError, api_doc
from alertd.runtime import Runtime


def heartbeats_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("heartbeats_api", __name__, url_prefix="/api/v1/heartbeats")
    auth = requires_token(runtime)

    @bp.get("")
    @api_doc("Heartbeats with their state, last ping and next deadline", {200: ("the heartbeats", [m.Heartbeat])})
    @auth
    async def list_heartbeats() -> Response:
        config = runtime.config
        rows = await runtime.store.read(heartbeats.status)
        return json_response(with_times(heartbeats.listing(config, rows)))

    @bp.get("/<name>")
    @api_doc(
        "One heartbeat",
        {200: ("the heartbeat", m.Heartbeat), 404: ("no heartbeat of that name", ApiError)},
        path={"name": {"type": "string", "minLength": 1, "maxLength": m.MAX_NAME}},
    )
    @auth
    async def one_heartbeat(name: str) -> Response:
        config = runtime.config
        if name not in config.raw.heartbeats:
            return error(404, f"no heartbeat named {name[:60]!r}")
        rows = await runtime.store.read(heartbeats.status)
        return json_response(with_times(heartbeats.listing(config, rows, only=name)[0]))

    return bp
