"""``/in/{token}`` at the ASGI level: find the integration, read the body under limits, hand it to receive().

The token is looked up before any of the body is read. A known token's body is
buffered up to ``server.max_body_bytes``; an unknown token's is read and thrown
away (its first bytes kept for the log), so junk costs no memory. The whole body
must arrive within ``server.body_timeout`` (else 408 and the connection closes),
and at most ``server.max_inbound_in_flight`` known-token requests are read or
processed at once (more get 503, which SNS retries). With ``[server] ingest_processes``, a
known token's request is then answered by an ingest worker process (alertd.ingest_pool).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import trio

from alertd import ingest_ipc, ledger
from alertd.config import Integration
from alertd.inbound import InboundRequest
from alertd.log import get_logger
from alertd.memory import release_free_memory
from alertd.receive import Reply, receive
from alertd.runtime import Runtime

log = get_logger("alertd.inbound")

PARTIAL_PREFIX_BYTES = 4096
# Once this much body data was buffered, free memory is given back when no request is left.
TRIM_AFTER_BYTES = 4 * 1024 * 1024


async def _send_reply(send: Any, reply: Reply, *, close: bool = False) -> None:
    body = reply.body.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        # The body was not read to its end: the connection cannot carry another request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Body:
    size: int = 0  # bytes received (or declared, when too large to read)
    oversize: bool = False
    complete: bool = False
    disconnected: bool = False
    chunks: list[bytes] = field(default_factory=list)  # the kept bytes
    kept_size: int = 0

    @property
    def kept(self) -> bytes:
        return b"".join(self.chunks)

    def add(self, message: dict[str, Any], limit: int, keep: int) -> bool:
        """Take one ASGI receive message: keep at most ``keep`` bytes, stop past ``limit``.
        True when the body is done with (complete, too large, or the client gone)."""
        if message["type"] == "http.disconnect":
            self.disconnected = True
            return True
        chunk = message.get("body", b"")
        self.size += len(chunk)
        if self.size > limit:
            self.oversize = True
            return True
        if self.kept_size < keep:
            part = chunk[: keep - self.kept_size]
            self.chunks.append(part)
            self.kept_size += len(part)
        if not message.get("more_body", False):
            self.complete = True
            return True
        return False


def read_queued(receive_: Any, body: Body, *, limit: int, keep: int) -> bool:
    """Take the body messages the server has queued already; True when that was the whole body.

    hypercorn hands a request's body to the app through a trio memory channel, and a small body
    arrives with the request's head: its messages are queued before the app runs. Taking them
    with ``receive_nowait`` spares a trip through the scheduler per message (``receive`` yields
    even when a message is waiting), and the caller the cancel scope of the body's deadline."""
    channel = getattr(receive_, "__self__", None)
    if not isinstance(channel, trio.MemoryReceiveChannel):
        return False
    while True:
        try:
            message = channel.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return False  # (the rest, or the end, through read_body)
        if body.add(message, limit, keep):
            return True


def declared_whole(body: Body, declared: str) -> bool:
    """Whether every byte of the declared Content-Length is in ``body`` already. The server frames
    the body by that length (h11, h2), so then only its empty end-of-body message is still to come:
    hypercorn queues the body's data, then yields before it queues that end, and the request's task
    runs in between. Taken as the end, the request goes to its ingest worker at once, without a
    cancel scope for the body's deadline and a scheduler trip for a message that adds nothing.
    (Worker mode only: its reply comes back after hypercorn has read that end, so the connection
    is still kept alive.)"""
    return declared.isdigit() and body.size == int(declared) and not body.oversize


async def read_body(receive_: Any, body: Body, *, limit: int, keep: int) -> None:
    """Read the request body into ``body``: keep at most ``keep`` bytes, stop past ``limit``.

    Fills ``body`` as it goes, so that a caller whose deadline cancels this still
    knows what arrived."""
    while not body.add(await receive_(), limit, keep):
        pass


@functools.lru_cache(maxsize=64)
def _secrets(token: str) -> tuple[bytes, ...]:
    """The forms in which the URL token may appear in a header value: as is, and percent-encoded."""
    if not token:
        return ()
    forms = {token, quote(token, safe="")}
    return tuple(form.encode("latin-1", "replace") for form in forms)


def _headers(raw: list[tuple[bytes, bytes]], token: str) -> dict[str, str]:
    """Lower-cased headers with the URL token scrubbed from every value (a proxy's
    X-Forwarded-Uri or X-Original-URL repeats the path, secret included). The values are
    searched for the token once, together: scrubbed one by one only when it is there."""
    return _scrubbed(raw, token) if _has_secret(raw, token) else ingest_ipc.decoded_headers(raw)


def _worker_headers(raw: list[tuple[bytes, bytes]], token: str) -> ingest_ipc.Headers:
    """The headers as a request frame carries them: as received (the worker decodes them, off this
    process's core), or decoded and scrubbed here when a value holds the URL token."""
    return _scrubbed(raw, token) if _has_secret(raw, token) else raw


def _has_secret(raw: list[tuple[bytes, bytes]], token: str) -> bool:
    secrets = _secrets(token)
    if not secrets:
        return False
    values = b"\n".join([value for _name, value in raw])
    return any(secret in values for secret in secrets)


def _scrubbed(raw: list[tuple[bytes, bytes]], token: str) -> dict[str, str]:
    forms = (token, quote(token, safe=""))
    return {k.decode("latin-1").lower(): ledger.scrub(v.decode("latin-1"), forms) for k, v in raw}


def _declared_length(raw: list[tuple[bytes, bytes]]) -> str:
    """The Content-Length header's value, "" without one."""
    for name, value in raw:
        if name.lower() == b"content-length":
            return value.decode("latin-1")
    return ""


class InboundEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.in_flight = 0
        self.buffered = 0  # body bytes buffered since memory was last given back
        self.refused = 0  # 503s since in-flight requests last dropped to none

    async def __call__(self, scope: dict[str, Any], receive_: Any, send: Any) -> None:
        runtime = self.runtime
        server = runtime.config.raw.server
        token = scope["path"][len("/in/") :].rstrip("/")
        integration = runtime.services["tokens"].lookup(token)
        wanted = integration is not None and integration.config.enabled
        if wanted and self.in_flight >= server.max_inbound_in_flight:
            # One warning per busy spell, not one per refused request.
            if not self.refused:
                log.warning("inbound.busy", in_flight=self.in_flight, limit=server.max_inbound_in_flight)
            self.refused += 1
            await _send_reply(send, Reply(503, "too many requests in flight; retry later\n"), close=True)
            return
        # Only requests whose body is buffered count against the cap.
        counted = int(wanted)
        self.in_flight += counted
        try:
            buffered = await self._handle(scope, receive_, send, integration, token, wanted)
        finally:
            self.in_flight -= counted
        self.buffered += buffered  # (not `+= await`: that would read the total before awaiting)
        if self.in_flight == 0:
            if self.refused:
                log.info("inbound.busy_over", refused=self.refused)
                self.refused = 0
            if self.buffered >= TRIM_AFTER_BYTES:
                # The burst is over: give its buffers' memory back (see alertd.memory).
                self.buffered = 0
                await trio.to_thread.run_sync(release_free_memory)

    async def _handle(
        self,
        scope: dict[str, Any],
        receive_: Any,
        send: Any,
        integration: Integration | None,
        token: str,
        wanted: bool,
    ) -> int:
        """Answer the request; return how many body bytes were buffered."""
        runtime = self.runtime
        server = runtime.config.raw.server
        limit = server.max_body_bytes
        raw = scope["headers"]
        declared = _declared_length(raw)
        body = Body()
        pool = runtime.services.get("ingest")
        if declared.isdigit() and int(declared) > limit:
            body.oversize, body.size = True, int(declared)
        else:
            keep = limit if wanted else ledger.UNKNOWN_TOKEN_PREFIX_BYTES
            if not read_queued(receive_, body, limit=limit, keep=keep):
                if pool is not None and pool.live and wanted and declared_whole(body, declared):
                    body.complete = True
                else:
                    with trio.move_on_after(server.body_timeout):
                        await read_body(receive_, body, limit=limit, keep=keep)
        if body.disconnected:
            return body.kept_size
        timed_out = not (body.complete or body.oversize)
        kept = body.kept
        # Of a body too large or cut short, only the first bytes are kept, for diagnosis.
        kept = kept if body.complete else kept[:PARTIAL_PREFIX_BYTES]
        remote_addr = (scope.get("client") or ("", 0))[0] or ""
        received_at = runtime.clock.now()
        reply = None
        if pool is not None and wanted and integration is not None:
            # An ingest worker process does the rest (alertd.ingest_pool); None: none can.
            reply = await pool.receive(
                integration.name,
                scope["method"],
                _worker_headers(raw, token),
                kept,
                remote_addr,
                received_at,
                oversize=body.oversize,
                body_size=body.size,
                timed_out=timed_out,
            )
        if reply is None:
            request = InboundRequest(
                method=scope["method"],
                path="/in/{token}",  # the token is a secret: never stored
                headers=_headers(raw, token),
                body=kept,
                remote_addr=remote_addr,
                received_at=received_at,
            )
            reply = await receive(
                runtime,
                integration,
                request,
                oversize=body.oversize,
                body_size=body.size,
                timed_out=timed_out,
            )
        await _send_reply(send, reply, close=not body.complete)
        return body.kept_size
