"""How the HTTP process writes request frames to a worker (alertd.ingest_pool): when the scheduler
pass that queued them ends (``_flush``, called by the pool's instrument before the loop waits for
I/O), at once when nothing waits before them, else through the sender task, in order, nothing lost
when the socket is full."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio

from alertd.ingest_pool import IngestPool, _Child


def _pool_and_child() -> tuple[IngestPool, _Child, socket.socket]:
    ours, theirs = socket.socketpair()
    runtime: Any = SimpleNamespace()
    pool = IngestPool(runtime, Path("/nonexistent/alertd.toml"), 1)
    child = _Child(process=None, stream=trio.SocketStream(trio.socket.from_stdlib_socket(ours)), sock=ours)
    return pool, child, theirs


def _read_all(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return data
        data += chunk


def test_a_frame_with_nothing_before_it_is_written_at_the_passs_end_else_queued_in_order() -> None:
    async def main() -> None:
        pool, child, theirs = _pool_and_child()
        pool._queue(child, 1, b"one")
        assert (child.sent, _read_all(theirs)) == (set(), b"")  # not before the pass ends
        pool._flush()
        assert (child.outbox, child.sent, _read_all(theirs)) == ([], {1}, b"one")

        child.sending = True  # the sender is writing a batch: nothing may go between its bytes
        pool._queue(child, 2, b"two")
        pool._flush()
        child.sending = False
        pool._queue(child, 3, b"three")  # something waits before it: behind it
        pool._flush()
        assert child.outbox == [(2, b"two"), (3, b"three")] and child.sent == {1}
        assert _read_all(theirs) == b""

    trio.run(main)


def test_a_full_socket_leaves_the_rest_to_the_sender_and_every_byte_arrives_in_order() -> None:
    async def main() -> None:
        pool, child, theirs = _pool_and_child()
        big = [bytes([65 + i]) * 300_000 for i in range(3)]  # more than the socket's buffer
        for rid, frame in enumerate(big, start=1):
            pool._queue(child, rid, frame)
        pool._flush()
        assert child.outbox  # the socket took what it could; the rest waits for the sender
        received = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool._send, child)
            reader = trio.SocketStream(trio.socket.from_stdlib_socket(theirs))
            with trio.fail_after(10):
                while len(received) < sum(map(len, big)):
                    received += await reader.receive_some(1 << 20)
            nursery.cancel_scope.cancel()
        assert bytes(received) == b"".join(big)
        assert child.sent == {1, 2, 3} and child.outbox == []

    trio.run(main)
