"""The ASGI application: a quart-trio app behind a thin ASGI dispatcher.

``POST /in/{token}`` is the hot path (every SNS delivery); it is answered at the
ASGI level without Quart's routing and request objects, as are heartbeat pings,
``GET /healthz`` and ``GET /readyz``. Everything else (API, console, metrics, plugin
reply routes) goes to Quart.

Quart (with Flask, Werkzeug and the API's models) is a third of the daemon's start-up, and
neither the inbound path nor the loops need it: the app is built after the daemon is ready
(``Dispatcher.warm``, its imports on a worker thread), and a request that needs it before
that waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from alertd.http.heartbeat_asgi import HeartbeatEndpoint
from alertd.http.inbound_asgi import InboundEndpoint
from alertd.runtime import Runtime

if TYPE_CHECKING:
    from quart_trio import QuartTrio


# How long a request for the API or console waits for the build that starts at ready (it takes
# well under a second; a request to a daemon whose build hangs still gets an answer).
WEB_BUILD_WAIT_SECONDS = 30.0


def import_web_modules(runtime: Runtime) -> None:
    """Import what ``build_quart`` needs (run on a worker thread: the event loop goes on)."""
    import quart_trio  # noqa: F401

    import alertd.http.actions
    import alertd.http.api
    import alertd.http.directory_api
    import alertd.http.heartbeats_api
    import alertd.http.maintenance_api
    import alertd.http.schedules
    import alertd.http.simulate
    import alertd.metrics

    alertd.metrics.load()
    if runtime.config.raw.web.enabled:
        import alertd.web.console


async def readiness(runtime: Runtime) -> tuple[int, str]:
    problems = []
    if not runtime.store.is_open:
        problems.append("store closed")
    if not runtime.ready:
        problems.append("starting")
    if not problems:
        reason = await runtime.store.unreachable()  # a load balancer drops an instance without its database
        if reason is not None:
            problems.append(reason)
    if problems:
        return 503, "not ready: " + ", ".join(problems) + "\n"
    return 200, "ready\n"


def build_quart(runtime: Runtime) -> QuartTrio:
    from quart import Response
    from quart_trio import QuartTrio

    app = QuartTrio("alertd")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["alertd"] = runtime

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok\n", content_type="text/plain")

    @app.get("/readyz")
    async def readyz() -> Response:
        status, text = await readiness(runtime)
        return Response(text, status=status, content_type="text/plain")

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


async def _send_text(send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Any, send: Any) -> None:
    """Nothing to do at the server's start and stop (the daemon owns both), but say so: hypercorn
    logs a warning for an app that does not answer."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Dispatcher:
    """ASGI: fast paths for inbound deliveries, heartbeats and health; Quart (built late) for the rest."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.inbound = InboundEndpoint(runtime)
        self.heartbeat = HeartbeatEndpoint(runtime)
        self._quart: QuartTrio | None = None
        self._built: trio.Event | None = None
        self.failed: str | None = None  # why the Quart app could not be built (it is not tried again)

    @property
    def quart(self) -> QuartTrio:
        """The Quart app, built now if it is not yet."""
        if self._quart is None:
            self._quart = build_quart(self.runtime)
        return self._quart

    async def warm(self) -> None:
        """Build the Quart app, its imports on a worker thread; concurrent callers wait for the one
        build. A failure is raised to the first caller (the daemon logs it and stops) and kept: the
        requests waiting for it, and any later one, are answered 503 with its reason."""
        if self._quart is not None or self.failed is not None:
            return
        if self._built is not None:
            await self._built.wait()
            return
        self._built = built = trio.Event()
        try:
            await trio.to_thread.run_sync(import_web_modules, self.runtime)
            self.quart  # noqa: B018 (builds it)
        except Exception as exc:
            self.failed = f"building the web routes failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self._built = None
            built.set()

    async def _wait_for_quart(self) -> str | None:
        """Wait (bounded) for the build that started at ready; why it cannot serve, or None."""
        if self._quart is None and self.failed is None:
            with trio.move_on_after(WEB_BUILD_WAIT_SECONDS):
                try:
                    await self.warm()
                except Exception:  # kept in self.failed (the daemon logs it once)
                    pass
            if self._quart is None and self.failed is None:
                return f"the web routes are still loading after {WEB_BUILD_WAIT_SECONDS:.0f} s"
        return self.failed

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/in/"):
                await self.inbound(scope, receive, send)
                return
            if path.startswith("/hb/"):
                await self.heartbeat(scope, receive, send)
                return
            if scope["method"] == "GET" and path == "/healthz":
                await _send_text(send, 200, "ok\n")
                return
            if scope["method"] == "GET" and path == "/readyz":
                await _send_text(send, *(await readiness(self.runtime)))
                return
            send = _shield_last_send(send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
            return
        if self._quart is None:
            problem = await self._wait_for_quart()
            if problem is not None:
                if kind == "http":  # the reason is the daemon's log's (daemon.start_failed), not a stranger's
                    await _send_text(send, 503, "web routes unavailable: building them failed (see the daemon's log)\n")
                return
        await self.quart(scope, receive, send)


def build_app(runtime: Runtime) -> Dispatcher:
    return Dispatcher(runtime)
