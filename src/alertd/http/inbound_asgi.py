"""``/in/{token}`` at the ASGI level: read the body under a size limit, hand it to receive()."""

from __future__ import annotations

from typing import Any

from alertd.inbound import InboundRequest
from alertd.receive import Reply, receive
from alertd.runtime import Runtime


async def _send_reply(send: Any, reply: Reply) -> None:
    body = reply.body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class InboundEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive_: Any, send: Any) -> None:
        runtime = self.runtime
        limit = runtime.config.raw.server.max_body_bytes
        token = scope["path"][len("/in/") :].rstrip("/")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        oversize = declared.isdigit() and int(declared) > limit
        chunks: list[bytes] = []
        size = 0
        if not oversize:
            more = True
            while more:
                message = await receive_()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    oversize = True
                    break
                chunks.append(chunk)
                more = message.get("more_body", False)
        client = scope.get("client") or ("", 0)
        request = InboundRequest(
            method=scope["method"],
            path="/in/{token}",  # the token is a secret: never stored
            headers=headers,
            # Of an oversize body only the first bytes are kept, for diagnosis.
            body=b"".join(chunks)[:4096] if oversize else b"".join(chunks),
            remote_addr=client[0] or "",
            received_at=runtime.clock.now(),
        )
        reply = await receive(
            runtime,
            token,
            request,
            oversize=oversize,
            body_size=int(declared) if oversize and declared.isdigit() else size,
        )
        await _send_reply(send, reply)
