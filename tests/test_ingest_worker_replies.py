"""An ingest worker writes the replies queued in one scheduler pass (one commit's) in one send,
at the end of that pass: one wake-up of the HTTP process per commit, not one per message, and
no wait for the next pass's new requests (alertd.ingest_worker)."""

from __future__ import annotations

import select
import socket
from types import SimpleNamespace
from typing import Any

import trio

from alertd import ingest_ipc, loop_pass
from alertd.ingest_worker import Worker


class CountingSocket:
    """The worker's end of the socketpair as its end-of-pass send sees it, counting the sends."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends: list[int] = []

    def send(self, data: Any) -> int:
        self.sends.append(len(data))
        return self.sock.send(data)


def _worker() -> tuple[Worker, CountingSocket, socket.socket]:
    ours, theirs = socket.socketpair()
    runtime: Any = SimpleNamespace(
        config=SimpleNamespace(raw=SimpleNamespace(server=SimpleNamespace(max_body_bytes=1024)))
    )
    worker = Worker(runtime, theirs)
    counting = CountingSocket(theirs)
    worker.sock = counting  # type: ignore[assignment]
    return worker, counting, ours


async def _read(ours: socket.socket, count: int) -> list[tuple[Any, ...]]:
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    frames: list[tuple[Any, ...]] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as reading:

            def on_frame(frame: tuple[Any, ...]) -> None:
                frames.append(frame)
                if len(frames) == count:
                    reading.cancel_scope.cancel()

            reading.start_soon(ingest_ipc.read_frames, stream, 64 * 1024 * 1024, on_frame)
    return frames


def test_replies_queued_together_leave_in_one_send_whole_and_in_order() -> None:
    worker, counting, ours = _worker()
    frames: list[tuple[Any, ...]] = []

    async def main() -> None:
        loop_pass.at_pass_end(worker.flush_pass)  # (as Worker.run adds it)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker._sender)
            for rid in (1, 2, 3):  # as the jobs of one commit, woken together, answer
                worker.send((rid, 200, "ok\n", [], [], False, True))
            frames.extend(await _read(ours, 3))
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [f[0] for f in frames] == [1, 2, 3]
    assert len(counting.sends) == 1


def test_a_reply_is_on_the_socket_before_the_next_pass_runs() -> None:
    """Each time, the task that queued a reply finds it readable by the HTTP process when it runs
    again (the next pass). With a sender task woken for it, the reply left during the next pass,
    in an order trio randomises: half the times after the task looked."""
    worker, _counting, ours = _worker()
    seen: list[bool] = []

    async def main() -> None:
        loop_pass.at_pass_end(worker.flush_pass)  # (as Worker.run adds it)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker._sender)
            await trio.lowlevel.checkpoint()
            for rid in range(1, 41):
                worker.send((rid, 200, "ok\n", [], [], False, True))
                await trio.lowlevel.checkpoint()
                seen.append(bool(select.select([ours], [], [], 0)[0]))
                while not select.select([ours], [], [], 0)[0]:  # (written later: drained all the same)
                    await trio.sleep(0.001)
                assert ingest_ipc.HEADER.size < len(ours.recv(65536))
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert all(seen), f"{seen.count(False)} of {len(seen)} replies not written at the end of their pass"


def test_what_the_socket_does_not_take_at_once_the_sender_writes_in_order() -> None:
    """A reply larger than the socket's buffer: the end-of-pass send takes a part, the sender task
    the rest, and a reply queued meanwhile follows it whole (nothing goes between its bytes)."""
    worker, counting, ours = _worker()
    big = "x" * (8 * 1024 * 1024)
    frames: list[tuple[Any, ...]] = []

    async def main() -> None:
        loop_pass.at_pass_end(worker.flush_pass)  # (as Worker.run adds it)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker._sender)
            worker.send((1, 200, big, [], [], False, False))
            await trio.lowlevel.checkpoint()  # the end of this pass sent what the socket took
            assert worker.rest, "the socket took 8 MiB at once: the test needs a larger reply"
            worker.send((2, 200, "ok\n", [], [], False, False))
            frames.extend(await _read(ours, 2))
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [(f[0], len(f[2])) for f in frames] == [(1, len(big)), (2, 3)]
    assert len(counting.sends) == 1  # the rest went through the sender task
