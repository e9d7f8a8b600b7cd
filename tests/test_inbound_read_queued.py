"""The /in/ body taken from hypercorn's queue without a scheduler trip (inbound_asgi.read_queued),
and the rest read as before when it is not all there yet."""

from __future__ import annotations

import trio

from alertd.http.inbound_asgi import Body, read_body, read_queued


def test_a_queued_body_is_taken_whole_without_yielding() -> None:
    async def main() -> None:
        send, receive = trio.open_memory_channel[dict](10)
        send.send_nowait({"type": "http.request", "body": b"abc", "more_body": True})
        send.send_nowait({"type": "http.request", "body": b"def", "more_body": False})
        body = Body()
        assert read_queued(receive.receive, body, limit=100, keep=100)  # (a plain call: no await)
        assert (body.complete, body.kept, body.size) == (True, b"abcdef", 6)

    trio.run(main)


def test_a_body_still_arriving_is_read_on_and_the_limits_hold() -> None:
    async def main() -> None:
        send, receive = trio.open_memory_channel[dict](10)
        send.send_nowait({"type": "http.request", "body": b"abc", "more_body": True})
        body = Body()
        assert not read_queued(receive.receive, body, limit=100, keep=4)
        assert not body.complete
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send.send, {"type": "http.request", "body": b"def", "more_body": False})
            await read_body(receive.receive, body, limit=100, keep=4)
        assert (body.complete, body.kept, body.size) == (True, b"abcd", 6)  # 4 kept, 6 counted

        send.send_nowait({"type": "http.request", "body": b"x" * 60, "more_body": True})
        send.send_nowait({"type": "http.request", "body": b"x" * 60, "more_body": True})
        big = Body()
        assert read_queued(receive.receive, big, limit=100, keep=100)
        assert big.oversize and not big.complete

        send.send_nowait({"type": "http.disconnect"})
        gone = Body()
        assert read_queued(receive.receive, gone, limit=100, keep=100)
        assert gone.disconnected

    trio.run(main)


def test_another_servers_receive_callable_is_left_to_read_body() -> None:
    async def main() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"abc", "more_body": False}

        body = Body()
        assert not read_queued(receive, body, limit=100, keep=100)
        await read_body(receive, body, limit=100, keep=100)
        assert (body.complete, body.kept) == (True, b"abc")

    trio.run(main)
