"""Maintenance windows over the REST API (the same bearer tokens as the rest of /api/v1).

``GET /api/v1/maintenance[?all=1]``, ``POST /api/v1/maintenance`` (a JSON object: integrations,
reason, end or duration_minutes, optional start, match, on_end), ``POST
/api/v1/maintenance/ID/end``. The token's name is recorded as the actor (``api:<name>``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, Response, g, request

from alertd import maintenance_windows
from alertd.http import api_models as m
from alertd.http.api import error, json_response, parse_id, parse_since, requires_token, with_times
from alertd.http.api_models import NewWindow
from alertd.http.openapi import ApiError, api_doc, parse_query
from alertd.mapping import Condition, RulesetError, compile_condition
from alertd.runtime import Runtime

MAX_BODY = 4096


def _time(value: str | float | None, name: str) -> float | None:
    if value is None:
        return None
    parsed = parse_since(str(value))
    if isinstance(parsed, str):
        raise ValueError(parsed.replace("since", name, 1))
    return parsed


def validation_reason(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def new_window(data: bytes, integrations: dict[str, Any], now: float) -> dict[str, Any] | str:
    """The arguments of ``maintenance_windows.add`` from a request body, or the reason it is refused."""
    try:
        body = NewWindow.model_validate(json.loads(data))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            return validation_reason(exc)
        return "the body must be a JSON object"
    return window_args(body, integrations, now)


def window_args(body: NewWindow, integrations: dict[str, Any], now: float) -> dict[str, Any] | str:
    """The arguments of ``maintenance_windows.add`` for a validated window (the API's and the
    console's), or the reason it is refused: known integrations, a match in the rules' language,
    an end after its start and in the future, at most 31 days."""
    for name in body.integrations:
        if name not in integrations:
            return f"integrations: no integration named {name[:60]!r}"
    if body.match is not None:
        try:
            compile_condition(Condition.model_validate(body.match), ())
        except (ValidationError, RulesetError) as exc:
            return f"match: expected a condition in the rules' language; {str(exc).splitlines()[0][:200]}"
    try:
        starts_at = _time(body.start, "start") or now
        ends_at = _time(body.end, "end")
    except ValueError as exc:
        return str(exc)
    if (ends_at is None) == (body.duration_minutes is None):
        return "give either end or duration_minutes"
    if ends_at is None:
        ends_at = starts_at + (body.duration_minutes or 0) * 60
    if ends_at <= max(starts_at, now):
        return "the window must end after its start and in the future"
    if ends_at - starts_at > maintenance_windows.MAX_WINDOW_SECONDS:
        return "a window lasts at most 31 days"
    return {
        "integrations": list(dict.fromkeys(body.integrations)),
        "match": body.match,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reason": body.reason,
        "on_end": body.on_end,
    }


def store_window(db: Any, args: dict[str, Any], actor: str, now: float) -> dict[str, Any] | None:
    """Store a window (the arguments of ``window_args``) in the caller's transaction; its row."""
    window_id = maintenance_windows.add(db, **args, actor=actor, now=now)
    return maintenance_windows.get(db, window_id)


def maintenance_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("maintenance_api", __name__, url_prefix="/api/v1/maintenance")
    auth = requires_token(runtime)
    store = runtime.store

    @bp.get("")
    @api_doc(
        "Maintenance windows in progress and to come", {200: ("the windows", [m.Window])}, query=m.MaintenanceQuery
    )
    @auth
    async def list_windows() -> Response:
        q = parse_query(m.MaintenanceQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        include_ended = q.all in ("1", "true")
        now = runtime.clock.now()
        rows = await store.read(lambda db: maintenance_windows.listing(db, now, include_ended=include_ended))
        return json_response(with_times(rows))

    @bp.post("")
    @api_doc(
        "Add a maintenance window: alerts it matches are recorded but page nobody",
        {201: ("the window", m.Window)},
        body=NewWindow,
    )
    @auth
    async def add_window() -> Response:
        data = await request.get_data()
        if len(data) > MAX_BODY:
            return error(413, f"the body must be at most {MAX_BODY} bytes")
        now = runtime.clock.now()
        args = new_window(data, dict.fromkeys(maintenance_windows.targets(runtime.config)), now)
        if isinstance(args, str):
            return error(400, args)
        actor = f"api:{g.api_token}"
        return json_response(with_times(await store.write(lambda db: store_window(db, args, actor, now))), 201)

    @bp.post("/<window_ref>/end")
    @api_doc(
        "End a maintenance window now",
        {
            200: ("the window, with how many held alerts it released", m.EndedWindow),
            404: ("no such window", ApiError),
            409: ("the window has already ended", ApiError),
        },
        path={"window_ref": m.ID_SCHEMA},
    )
    @auth
    async def end_window(window_ref: str) -> Response:
        window_id = parse_id(window_ref)
        if window_id is None:
            return error(404, f"no maintenance window #{window_ref[:40]}")
        now = runtime.clock.now()
        actor = f"api:{g.api_token}"

        def job(db: Any) -> tuple[dict[str, Any] | None, int]:
            row = maintenance_windows.get(db, window_id)
            if row is None or row["ended_at"] is not None:
                return row, -1
            events = maintenance_windows.end(db, window_id, now, actor)
            return maintenance_windows.get(db, window_id), len(events)

        row, handled = await store.write(job)
        if row is None:
            return error(404, f"no maintenance window #{window_id}")
        if handled < 0:
            return error(409, f"maintenance window #{window_id} has already ended")
        return json_response(with_times({**row, "alerts_released": handled}))

    return bp
