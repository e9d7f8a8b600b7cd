"""hypercorn's writes made at once when the socket takes them (alertd.http.direct_send): a short
response goes out without a scheduler trip; one larger than the socket takes still arrives whole,
in order, under back-pressure; a client gone mid-response costs the server nothing."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypercorn.config import Config

from alertd.http import app_queue, direct_send, keep_alive, lazy_protocols
from helpers import answer_lifespan

TRIPS: list[str] = []  # responses whose sends went through the scheduler
BIG = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than a loopback socket's buffers


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    body = BIG if scope["path"] == "/big" else b"ok\n"
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    if scope["path"] == "/short":
        try:
            with trio.testing.assert_no_checkpoints():
                await send(start)
                await send({"type": "http.response.body", "body": body})
        except AssertionError:  # (raised after the response went out: kept for the test to see)
            TRIPS.append(scope["path"])
        return
    await send(start)
    await send({"type": "http.response.body", "body": body})


def _install() -> None:
    lazy_protocols.install()
    app_queue.install()
    keep_alive.install()
    direct_send.install()
    direct_send.install()  # (once is enough)


async def _serve(nursery: trio.Nursery) -> tuple[int, trio.Event]:
    import hypercorn.trio

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    stop = trio.Event()
    binds = await nursery.start(
        lambda task_status: hypercorn.trio.serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)
    )
    return int(binds[0].rsplit(":", 1)[1]), stop


async def _read_response(stream: trio.SocketStream) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        chunk = await stream.receive_some(65536)
        assert chunk, len(body)
        body += chunk
    return head, body


def test_responses_short_large_and_to_a_client_gone() -> None:
    _install()

    async def main() -> None:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                port, stop = await _serve(nursery)
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                for path in ("/short", "/big", "/short", "/short"):
                    await stream.send_all(f"GET {path} HTTP/1.1\r\nhost: t\r\n\r\n".encode())
                    if path == "/big":
                        await trio.sleep(0.2)  # the server meets a full socket: the rest waits for us
                    head, body = await _read_response(stream)
                    assert head.startswith(b"HTTP/1.1 200"), head
                    assert body == (BIG if path == "/big" else b"ok\n")
                # A client that asks for the large body and leaves without reading it.
                gone = await trio.open_tcp_stream("127.0.0.1", port)
                await gone.send_all(b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n")
                await trio.sleep(0.1)
                await gone.aclose()
                await stream.send_all(b"GET /short HTTP/1.1\r\nhost: t\r\n\r\n")
                assert (await _read_response(stream))[1] == b"ok\n"
                stop.set()

    TRIPS.clear()
    trio.run(main)
    assert TRIPS == []
