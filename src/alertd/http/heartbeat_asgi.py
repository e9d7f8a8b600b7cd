"""``/hb/{token}`` at the ASGI level: a heartbeat's ping (GET, HEAD or POST).

The token is looked up (constant time) before any of the body is read; an unknown one is
answered 404 and nothing is stored. A body is optional and bounded
(``heartbeats.MAX_PING_BODY_BYTES``, else 413, and the ping does not count); it must
arrive within ``server.body_timeout``. The ping is committed (its row, the new deadline,
the closed alert) before the 200.
"""

from __future__ import annotations

from typing import Any

import trio

from alertd import heartbeats
from alertd.http.inbound_asgi import Body, _send_reply, read_body
from alertd.log import get_logger
from alertd.receive import Reply
from alertd.runtime import Runtime
from alertd.store import StoreUnavailable

log = get_logger("alertd.heartbeats")

METHODS = ("GET", "HEAD", "POST")


class HeartbeatEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive_: Any, send: Any) -> None:
        reply, complete = await self._handle(scope, receive_)
        if scope["method"] == "HEAD":
            reply = Reply(reply.status, "")
        await _send_reply(send, reply, close=not complete)

    async def _handle(self, scope: dict[str, Any], receive_: Any) -> tuple[Reply, bool]:
        runtime = self.runtime
        token = scope["path"][len("/hb/") :].rstrip("/")
        index = runtime.services.get("heartbeat_tokens")
        name = None if index is None else index.lookup(token)
        if name is None or name not in runtime.config.raw.heartbeats:
            return Reply(404, "unknown heartbeat token\n"), False
        method = scope["method"]
        if method not in METHODS:
            return Reply(405, f"method {method[:16]} not allowed; use GET or POST\n"), False
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        limit = heartbeats.MAX_PING_BODY_BYTES
        too_large = f"body larger than the limit of {limit} bytes\n"
        if declared.isdigit() and int(declared) > limit:
            return Reply(413, too_large), False
        body = Body()
        with trio.move_on_after(runtime.config.raw.server.body_timeout):
            await read_body(receive_, body, limit=limit, keep=heartbeats.PING_BODY_KEPT)
        if body.oversize:
            return Reply(413, too_large), False
        if not body.complete:
            return Reply(408, "body not received in time\n"), False
        client = scope.get("client") or ("", 0)
        ping = heartbeats.Ping(
            method=method,
            remote_addr=client[0] or "",
            user_agent=headers.get("user-agent", ""),
            body=body.kept,
            body_size=body.size,
        )
        now = runtime.clock.now()
        config = runtime.config
        try:
            closed, _events = await runtime.store.write(lambda db: heartbeats.record_ping(db, config, name, ping, now))
        except StoreUnavailable as exc:
            log.error("heartbeat.store_unavailable", heartbeat=name, error=str(exc))
            return Reply(503, "storage unavailable; retry later\n"), True
        log.info("heartbeat.ping", heartbeat=name, closed_alert_id=closed)
        return Reply(200, "ok\n"), True
