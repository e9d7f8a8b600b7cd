"""The ASGI application: a quart-trio app behind a thin ASGI dispatcher.

``POST /in/{token}`` is the hot path (every SNS delivery); it is answered at the
ASGI level without Quart's routing and request objects. Everything else (health,
API, plugin reply routes) goes to Quart.
"""

from __future__ import annotations

from typing import Any

from quart import Response
from quart_trio import QuartTrio

from alertd.http.inbound_asgi import InboundEndpoint
from alertd.runtime import Runtime


def build_quart(runtime: Runtime) -> QuartTrio:
    app = QuartTrio("alertd")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["alertd"] = runtime

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok\n", content_type="text/plain")

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = []
        if not runtime.store.is_open:
            problems.append("store closed")
        if not runtime.ready:
            problems.append("starting")
        if problems:
            return Response("not ready: " + ", ".join(problems) + "\n", status=503, content_type="text/plain")
        return Response("ready\n", content_type="text/plain")

    @app.get("/metrics")
    async def metrics() -> Response:
        from alertd.metrics import render

        return Response(render(runtime), content_type="text/plain; version=0.0.4; charset=utf-8")

    from alertd.http.actions import actions_blueprint
    from alertd.http.api import api_blueprint
    from alertd.http.schedules import schedules_blueprint
    from alertd.http.simulate import simulate_blueprint

    app.register_blueprint(api_blueprint(runtime))
    app.register_blueprint(actions_blueprint(runtime))
    app.register_blueprint(schedules_blueprint(runtime))
    app.register_blueprint(simulate_blueprint(runtime))
    for blueprints in runtime.pm.hook.alertd_register_routes(runtime=runtime):
        for bp in blueprints or []:
            app.register_blueprint(bp)
    return app


class Dispatcher:
    """ASGI: fast path for inbound deliveries, Quart for the rest."""

    def __init__(self, runtime: Runtime) -> None:
        self.quart = build_quart(runtime)
        self.inbound = InboundEndpoint(runtime)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/in/"):
            await self.inbound(scope, receive, send)
            return
        await self.quart(scope, receive, send)


def build_app(runtime: Runtime) -> Dispatcher:
    return Dispatcher(runtime)
