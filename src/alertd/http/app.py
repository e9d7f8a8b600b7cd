"""The ASGI application: a quart-trio app behind a thin ASGI dispatcher.

``POST /in/{token}`` is the hot path (every SNS delivery); it is answered at the
ASGI level without Quart's routing and request objects. Everything else (health,
API, plugin reply routes) goes to Quart.
"""

from __future__ import annotations

from typing import Any

import trio
from quart import Response
from quart_trio import QuartTrio

from alertd.http.heartbeat_asgi import HeartbeatEndpoint
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
        if not problems:
            reason = await runtime.store.unreachable()
            if reason is not None:
                problems.append(reason)
        if problems:
            return Response("not ready: " + ", ".join(problems) + "\n", status=503, content_type="text/plain")
        return Response("ready\n", content_type="text/plain")

    @app.get("/metrics")
    async def metrics() -> Response:
        from alertd.metrics import render

        return Response(render(runtime), content_type="text/plain; version=0.0.4; charset=utf-8")

    from alertd.http.actions import actions_blueprint
    from alertd.http.api import api_blueprint
    from alertd.http.directory_api import directory_blueprint
    from alertd.http.heartbeats_api import heartbeats_blueprint
    from alertd.http.maintenance_api import maintenance_blueprint
    from alertd.http.schedules import schedules_blueprint
    from alertd.http.simulate import simulate_blueprint

    app.register_blueprint(api_blueprint(runtime))
    app.register_blueprint(maintenance_blueprint(runtime))
    app.register_blueprint(heartbeats_blueprint(runtime))
    app.register_blueprint(directory_blueprint(runtime))
    app.register_blueprint(actions_blueprint(runtime))
    app.register_blueprint(schedules_blueprint(runtime))
    app.register_blueprint(simulate_blueprint(runtime))
    if runtime.config.raw.web.enabled:
        from alertd.web.console import console_blueprint

        app.register_blueprint(console_blueprint(runtime))
    for blueprints in runtime.pm.hook.alertd_register_routes(runtime=runtime):
        for bp in blueprints or []:
            app.register_blueprint(bp)
    return app


def _shield_last_send(send: Any) -> Any:
    """Send the message that ends a response under a cancel shield.

    quart-trio cancels its per-request nursery as soon as hypercorn reports the
    stream closed, which hypercorn does *inside* the send of the final body, in
    the same call that starts the connection's keep-alive idle timer
    (``nursery.start``). trio leaves a task started from an already-cancelled
    scope in that scope, so the timer died at once: an idle keep-alive connection
    was then neither closed after ``keep_alive_timeout`` nor at shutdown, and
    SIGTERM waited the whole ``graceful_timeout``. Shielding that one send lets the
    timer start normally. (hypercorn shields its own socket writes already.)
    """

    async def shielded(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            with trio.CancelScope(shield=True):
                await send(message)
        else:
            await send(message)

    return shielded


class Dispatcher:
    """ASGI: fast path for inbound deliveries, Quart for the rest."""

    def __init__(self, runtime: Runtime) -> None:
        self.quart = build_quart(runtime)
        self.inbound = InboundEndpoint(runtime)
        self.heartbeat = HeartbeatEndpoint(runtime)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/in/"):
            await self.inbound(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"].startswith("/hb/"):
            await self.heartbeat(scope, receive, send)
            return
        if scope["type"] == "http":
            send = _shield_last_send(send)
        await self.quart(scope, receive, send)


def build_app(runtime: Runtime) -> Dispatcher:
    return Dispatcher(runtime)
