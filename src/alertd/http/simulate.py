"""``POST /api/v1/integrations/NAME/simulate``: a sample through the live pipeline (see alertd.simulate)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from alertd.http import api_models as m
from alertd.http.api import error, json_response, requires_token
from alertd.http.openapi import ApiError, api_doc
from alertd.runtime import Runtime
from alertd.simulate import SimulationError, max_sample_bytes, simulate


def simulate_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("simulate", __name__, url_prefix="/api/v1")

    @bp.post("/integrations/<name>/simulate")
    @api_doc(
        "Simulate: a sample through the live pipeline, recorded as simulated (it may open an alert)",
        {
            200: ("what the daemon did", m.Simulation),
            404: ("no such integration", ApiError),
            409: ("the sample cannot be simulated as it is", ApiError),
        },
        raw_body="a message as the source sends it (at most server.max_body_bytes)",
    )
    @requires_token(runtime)
    async def simulate_route(name: str) -> Response:
        limit = max_sample_bytes(runtime.config)
        length = request.content_length
        if length is not None and length > limit:
            return error(413, f"sample larger than server.max_body_bytes ({limit} bytes)")
        data = await request.get_data()
        try:
            result = await simulate(runtime, name, data, via="api")  # type: ignore[arg-type]
        except SimulationError as exc:
            return error(exc.status, str(exc))
        return json_response(result)

    return bp
