"""An ingest worker writes the replies queued in one scheduler pass (one commit's) in one send:
one wake-up of the HTTP process per commit, not one per message (alertd.ingest_worker)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import trio

from alertd import ingest_ipc
from alertd.ingest_worker import Worker


def test_replies_queued_together_leave_in_one_send_whole_and_in_order() -> None:
    ours, theirs = socket.socketpair()
    runtime: Any = SimpleNamespace(
        config=SimpleNamespace(raw=SimpleNamespace(server=SimpleNamespace(max_body_bytes=1024)))
    )
    worker = Worker(runtime, theirs)
    sends: list[int] = []
    real_send_all = worker.stream.send_all

    async def counted(data: Any) -> None:
        sends.append(len(data))
        await real_send_all(data)

    worker.stream.send_all = counted  # type: ignore[method-assign]
    frames: list[tuple[Any, ...]] = []

    async def main() -> None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker._sender)
            for rid in (1, 2, 3):  # as the jobs of one commit, woken together, answer
                worker.send((rid, 200, "ok\n", [], [], False, True))
            with trio.fail_after(5):
                async with trio.open_nursery() as reading:

                    def on_frame(frame: tuple[Any, ...]) -> None:
                        frames.append(frame)
                        if len(frames) == 3:
                            reading.cancel_scope.cancel()

                    reading.start_soon(ingest_ipc.read_frames, stream, ingest_ipc.REPLY_LIMIT_BYTES, on_frame)
            nursery.cancel_scope.cancel()
        await stream.aclose()
        await worker.stream.aclose()

    trio.run(main)
    assert [f[0] for f in frames] == [1, 2, 3]
    assert len(sends) == 1
