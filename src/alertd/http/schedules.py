"""``GET /schedules/{name}.ics?token=...``: a schedule's shifts as an iCalendar feed."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from quart import Blueprint, Response, request

from alertd.oncall import to_ical
from alertd.runtime import Runtime

DEFAULT_WEEKS = 8


def schedules_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("schedules", __name__)

    @bp.get("/schedules/<name>.ics")
    async def ical(name: str) -> Response:
        tokens: dict[str, str] = runtime.services.get("ical_tokens", {})
        expected = tokens.get(name)
        presented = request.args.get("token", "")
        # An unknown schedule and a wrong token look the same to the caller.
        if expected is None or not hmac.compare_digest(expected.encode(), presented.encode()):
            return Response("unknown schedule or wrong token\n", status=404, content_type="text/plain")
        weeks = request.args.get("weeks", str(DEFAULT_WEEKS))
        if not weeks.isdigit() or not 1 <= int(weeks) <= 52:
            return Response("weeks must be 1 to 52\n", status=400, content_type="text/plain")
        raw = runtime.config.raw
        now = datetime.fromtimestamp(runtime.clock.now(), UTC)
        start = now - timedelta(days=1)
        names = {user: cfg.full_name or user for user, cfg in raw.users.items()}
        body = to_ical(name, raw.schedules[name], start, now + timedelta(weeks=int(weeks)), names, stamp=now)
        return Response(
            body,
            content_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{name}.ics"', "Cache-Control": "no-store"},
        )

    return bp
