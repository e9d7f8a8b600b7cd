"""hypercorn's keep-alive timer moved per request instead of a task restarted (alertd.http.keep_alive):
an idle connection still closes after keep_alive_timeout and when the server stops, a connection
in a request is not closed under it, and a request no longer spawns a timer task."""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.config import Config

from alertd.http import app_queue, keep_alive, lazy_protocols
from helpers import answer_lifespan

REQUEST = b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    if scope["path"] == "/slow":
        await trio.sleep(float(scope["query_string"] or b"0"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


class Spawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.count = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.count += 1


async def _serve(nursery: trio.Nursery, keep_alive_timeout: float) -> tuple[int, trio.Event]:
    import hypercorn.trio

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.keep_alive_timeout = keep_alive_timeout
    config.graceful_timeout = 5
    config.accesslog = None
    stop = trio.Event()
    binds = await nursery.start(
        lambda task_status: hypercorn.trio.serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)
    )
    return int(binds[0].rsplit(":", 1)[1]), stop


async def _response(stream: trio.SocketStream) -> bytes:
    data = b""
    while not data.endswith(b"ok\n"):
        chunk = await stream.receive_some(4096)
        assert chunk, f"closed before the response ended: {data!r}"
        data += chunk
    return data


async def _closed_after(stream: trio.SocketStream) -> float:
    began = trio.current_time()
    while await stream.receive_some(4096):
        pass
    return trio.current_time() - began


def _install() -> None:
    lazy_protocols.install()
    app_queue.install()
    keep_alive.install()
    keep_alive.install()  # (once is enough)


def test_an_idle_connection_closes_after_keep_alive_timeout_and_a_slow_request_is_not_cut() -> None:
    _install()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stop = await _serve(nursery, keep_alive_timeout=1.0)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            # A request that takes two time-outs: the timer does not run while it is answered.
            await stream.send_all(b"GET /slow?2.0 HTTP/1.1\r\nhost: t\r\n\r\n")
            assert b" 200 " in await _response(stream)
            # The timer starts again after each response: requests at a gap below it keep the connection.
            for _ in range(3):
                await trio.sleep(0.3)
                await stream.send_all(REQUEST)
                assert b" 200 " in await _response(stream)
            with trio.fail_after(8):
                waited = await _closed_after(stream)
            assert 0.5 <= waited < 6, waited
            stop.set()

    trio.run(main)


def test_the_server_stopping_closes_an_idle_connection_at_once_and_a_busy_one_after_its_response() -> None:
    _install()

    async def main() -> None:
        # The server ends with its connections, not after its graceful_timeout (5 s): no timer is
        # left waiting for a connection that ended in a request.
        with trio.fail_after(4):
            async with trio.open_nursery() as nursery:
                port, stop = await _serve(nursery, keep_alive_timeout=60)
                idle = await trio.open_tcp_stream("127.0.0.1", port)
                await idle.send_all(REQUEST)
                await _response(idle)
                busy = await trio.open_tcp_stream("127.0.0.1", port)
                await busy.send_all(b"GET /slow?0.5 HTTP/1.1\r\nhost: t\r\n\r\n")
                await trio.sleep(0.1)
                stop.set()
                assert await _closed_after(idle) < 2
                assert b" 200 " in await _response(busy)
                await _closed_after(busy)

    trio.run(main)


def test_a_request_spawns_no_timer_task() -> None:
    _install()
    spawns = Spawns()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port, stop = await _serve(nursery, keep_alive_timeout=60)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(REQUEST)
            await _response(stream)
            trio.lowlevel.add_instrument(spawns)
            for _ in range(20):
                await stream.send_all(REQUEST)
                await _response(stream)
            trio.lowlevel.remove_instrument(spawns)
            stop.set()

    trio.run(main)
    # One task per request: the app's (hypercorn's own timer spawned a second one each time).
    assert spawns.count <= 20, spawns.count
