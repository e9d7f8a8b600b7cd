"""Read-only /api/v1 routes for what the console's on-call, people, integrations and workflows
pages show, from the same read models (``alertd.directory``, ``alertd.web.queries``).

``GET /oncall[?at=]``, ``/schedules/NAME[?weeks=]``, ``/escalation-policies``, ``/integrations``,
``/integrations/NAME``, ``/users``, ``/workflows``. An API token is not an admin session: no
integration token or inbound URL, no full contact address, no password hash is ever in an answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from quart import Blueprint, Response, request

from alertd import directory, workflows
from alertd.http import api_models as m
from alertd.http.api import error, json_response, parse_since, requires_token, with_times
from alertd.http.openapi import ApiError, api_doc, parse_query
from alertd.runtime import Runtime
from alertd.web import queries

# ?at= further than this from now is refused: a typo (ms for s), not a question about on-call.
MAX_AT_DISTANCE = 5 * 366 * 86400
NAME_PARAM = {"type": "string", "minLength": 1, "maxLength": m.MAX_NAME}


def directory_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("directory_api", __name__, url_prefix="/api/v1")
    auth = requires_token(runtime)

    def now() -> datetime:
        return datetime.fromtimestamp(runtime.clock.now(), UTC)

    @bp.get("/oncall")
    @api_doc(
        "Who is on call in each schedule, since and until when (now, or at the time given)",
        {200: ("one entry per schedule", [m.OnCall])},
        query=m.OnCallQuery,
    )
    @auth
    async def on_call() -> Response:
        q = parse_query(m.OnCallQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        at = now()
        if q.at is not None:
            parsed = parse_since(q.at)
            if isinstance(parsed, str) or abs(parsed - at.timestamp()) > MAX_AT_DISTANCE:
                return error(400, f"at must be {m.OnCallQuery.model_fields['at'].description}")
            at = datetime.fromtimestamp(parsed, UTC)
        raw = runtime.config.raw
        rows = await trio.to_thread.run_sync(directory.on_call, raw, at)
        return json_response(with_times(rows))

    @bp.get("/schedules/<schedule>")
    @api_doc(
        "A schedule: its layers and overrides, and its shifts for the next weeks",
        {200: ("the schedule", m.Schedule), 404: ("no schedule of that name", ApiError)},
        query=m.ScheduleQuery,
        path={"schedule": NAME_PARAM},
    )
    @auth
    async def schedule(schedule: str) -> Response:
        cfg = runtime.config.raw.schedules.get(schedule)
        if cfg is None:
            return error(404, f"no schedule named {schedule[:60]!r}")
        q = parse_query(m.ScheduleQuery, request.args)
        if isinstance(q, str):
            return error(400, q)
        start = now()
        plan = await trio.to_thread.run_sync(
            directory.schedule_plan, schedule, cfg, start, start + timedelta(weeks=q.weeks)
        )
        return json_response(with_times({**plan, "weeks": q.weeks}))

    @bp.get("/escalation-policies")
    @api_doc("Escalation policies with their levels, targets and delays", {200: ("the policies", [m.Policy])})
    @auth
    async def policies() -> Response:
        return json_response(directory.policies(runtime.config.raw))

    async def integration(name: str) -> dict[str, Any]:
        integ = runtime.config.integrations[name]
        row = await runtime.store.read(lambda db: queries.integration_row(db, name, integ))
        routes = row.pop("routes")  # conditions in the rules' language: left as configured
        return {**with_times(row), "routes": routes}

    @bp.get("/integrations")
    @api_doc(
        "Integrations: type, escalation policy, routes, counts by outcome, last message, handshakes",
        {200: ("the integrations (never their tokens)", [m.Integration])},
    )
    @auth
    async def integrations() -> Response:
        return json_response([await integration(name) for name in runtime.config.integrations])

    @bp.get("/integrations/<name>")
    @api_doc(
        "One integration",
        {200: ("the integration (never its token)", m.Integration), 404: ("no integration of that name", ApiError)},
        path={"name": NAME_PARAM},
    )
    @auth
    async def one_integration(name: str) -> Response:
        if name not in runtime.config.integrations:
            return error(404, f"no integration named {name[:60]!r}")
        return json_response(await integration(name))

    @bp.get("/users")
    @api_doc(
        "Users: time zone, contact methods (masked), notification rules, admin flag", {200: ("the users", [m.User])}
    )
    @auth
    async def users() -> Response:
        return json_response(directory.users(runtime.config.raw))

    @bp.get("/workflows")
    @api_doc("Workflows: trigger, actions, last run and counts", {200: ("the workflows", [m.Workflow])})
    @auth
    async def workflow_list() -> Response:
        raw = runtime.config.raw
        rows = await runtime.store.read(lambda db: workflows.listing(db, raw))
        out = [{**{k: v for k, v in row.items() if k != "last_run"}, "last_run_at": row["last_run"]} for row in rows]
        return json_response(with_times(out))

    return bp
