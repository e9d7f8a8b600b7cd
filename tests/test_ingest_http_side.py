"""What the HTTP process does per /in/ request in worker mode beyond a GET (alertd.http.inbound_asgi,
alertd.ingest_pool): a body whose declared length is all there goes to its worker without waiting
for the server's end-of-body message; a worker's reply wakes the escalation loop only for an alert
that can have a plan."""

from __future__ import annotations

import marshal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from alertd import loop_pass
from alertd.config.models import IntegrationConfig, RouteConfig
from alertd.http.inbound_asgi import InboundEndpoint
from alertd.ingest_ipc import decoded_headers, encode, read_frames
from alertd.ingest_pool import IngestPool
from alertd.receive import Reply
from alertd.routing import may_start_plan

TOKEN = "t" * 40


class Worker:
    """Stands in for the ingest pool's worker side: records what it was handed and answers 200."""

    def __init__(self) -> None:
        self.live = [object()]
        self.handed: list[tuple[Any, dict[str, Any], float]] = []

    async def receive(self, name: str, method: str, headers: Any, body: bytes, *rest: Any, **flags: Any) -> Reply:
        request = SimpleNamespace(method=method, headers=headers, body=body)
        self.handed.append((request, flags, trio.current_time()))
        return Reply(200, "OK\n")


def _runtime(pool: Worker) -> Any:
    integration = SimpleNamespace(name="alarms", config=SimpleNamespace(enabled=True))
    tokens = SimpleNamespace(lookup=lambda token: integration if token == TOKEN else None)
    server = SimpleNamespace(max_inbound_in_flight=10, max_body_bytes=1000, body_timeout=10.0)
    return SimpleNamespace(
        config=SimpleNamespace(raw=SimpleNamespace(server=server)),
        services={"tokens": tokens, "ingest": pool},
        clock=SimpleNamespace(now=lambda: 1.0),
    )


def _post(declared: int, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": f"/in/{TOKEN}",
        "headers": [(b"host", b"x"), (b"content-length", str(declared).encode()), *headers],
        "client": ("127.0.0.1", 1),
    }


async def _serve(
    body: bytes, declared: int, *, end: bool, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> tuple[Worker, list[dict[str, Any]]]:
    """One request whose body data hypercorn has queued (and, if ``end``, its end-of-body message)."""
    pool = Worker()
    endpoint = InboundEndpoint(_runtime(pool))
    to_app, from_server = trio.open_memory_channel[dict](10)
    to_app.send_nowait({"type": "http.request", "body": body, "more_body": True})
    if end:
        to_app.send_nowait({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await endpoint(_post(declared, list(headers)), from_server.receive, send)
    return pool, sent


def test_a_body_whose_declared_length_is_all_there_goes_to_the_worker_at_once() -> None:
    async def main() -> None:
        pool, sent = await _serve(b'{"a": 1}', 8, end=False)  # its end-of-body message not queued yet
        [(request, flags, at)] = pool.handed
        assert request.body == b'{"a": 1}' and at == 0  # no wait for the message that adds nothing
        assert flags == {"oversize": False, "body_size": 8, "timed_out": False}
        assert sent[0]["status"] == 200 and (b"connection", b"close") not in sent[0]["headers"]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_body_short_of_its_declared_length_waits_for_the_rest_and_times_out() -> None:
    async def main() -> None:
        pool, sent = await _serve(b'{"a"', 8, end=False)
        [(request, flags, at)] = pool.handed
        assert flags["timed_out"] and at == 10.0  # the body's deadline (server.body_timeout)
        assert (b"connection", b"close") in sent[0]["headers"]

        pool, sent = await _serve(b'{"a": 1}', 8, end=True)  # whole, its end queued too (as before)
        [(request, flags, _at)] = pool.handed
        assert request.body == b'{"a": 1}' and not flags["timed_out"]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_worker_gets_the_headers_as_received_unless_a_value_holds_the_token() -> None:
    async def main() -> None:
        pool, _sent = await _serve(b"{}", 2, end=True, headers=((b"x-amz-sns-message-type", b"Notification"),))
        [(request, _flags, _at)] = pool.handed
        assert request.headers == [
            (b"host", b"x"),
            (b"content-length", b"2"),
            (b"x-amz-sns-message-type", b"Notification"),
        ]
        assert decoded_headers(request.headers) == {
            "host": "x",
            "content-length": "2",
            "x-amz-sns-message-type": "Notification",
        }
        # A proxy's header repeating the path: scrubbed here, the secret never leaves in a frame.
        pool, _sent = await _serve(b"{}", 2, end=True, headers=((b"X-Original-URL", f"/in/{TOKEN}".encode()),))
        [(request, _flags, _at)] = pool.handed
        assert isinstance(request.headers, dict) and TOKEN not in str(request.headers)
        assert decoded_headers(request.headers)["x-original-url"].startswith("/in/")
        # A frame with the received pairs passes marshal (the frame's encoding) unchanged.
        frame = encode((1, "alarms", "POST", [(b"Host", b"x")], b"", "", 1.0, False, 0, False))
        assert marshal.loads(frame[4:])[3] == [(b"Host", b"x")]
        assert decoded_headers([(b"Host", b"x")]) == {"host": "x"}

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_only_integrations_with_a_policy_somewhere_start_plans() -> None:
    assert not may_start_plan(IntegrationConfig(type="aws_sns"))
    assert may_start_plan(IntegrationConfig(type="aws_sns", escalation_policy="ops"))
    assert may_start_plan(IntegrationConfig(type="aws_sns", routes=[RouteConfig(escalation_policy="db")]))
    assert not may_start_plan(IntegrationConfig(type="aws_sns", routes=[RouteConfig(recipients=["alice"])]))


def test_an_opened_alert_wakes_the_escalation_loop_only_when_it_can_have_a_plan() -> None:
    integrations = {
        "paged": SimpleNamespace(config=IntegrationConfig(type="aws_sns", escalation_policy="ops")),
        "logged": SimpleNamespace(config=IntegrationConfig(type="aws_sns")),
    }
    runtime: Any = SimpleNamespace(config=SimpleNamespace(integrations=integrations))
    pool = IngestPool(runtime, Path("/nonexistent/alertd.toml"), 1)
    pool._repeat_effects("logged", [], [], True, True)
    assert pool.wakes.asked["events"].is_set() and not pool.wakes.asked["escalation"].is_set()
    pool._repeat_effects("paged", [], [], True, False)
    assert pool.wakes.asked["escalation"].is_set()

    # After a reload the new config decides.
    pool.wakes.asked["escalation"] = trio.Event()
    integrations = {"logged": SimpleNamespace(config=IntegrationConfig(type="aws_sns", escalation_policy="ops"))}
    runtime.config = SimpleNamespace(integrations=integrations)
    pool._repeat_effects("logged", [], [], True, False)
    assert pool.wakes.asked["escalation"].is_set()


class Chunks:
    """A stream that hands out ``data`` in the sizes asked for, recording them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[int] = []

    async def receive_some(self, max_bytes: int) -> bytes:
        self.asked.append(max_bytes)
        part, self.data = self.data[:max_bytes], self.data[max_bytes:]
        return part


def test_frames_are_read_in_parts_below_the_allocators_mmap_threshold() -> None:
    frames = [(1, "small"), (2, b"x" * 300_000), (3, "after")]
    stream = Chunks(b"".join(encode(frame) for frame in frames))
    got: list[tuple[Any, ...]] = []
    trio.run(read_frames, stream, 1024 * 1024, got.append)
    assert got == frames  # a frame larger than one read is put together
    # recv() allocates what it is asked for: 128 KiB and more is an mmap and a munmap per read.
    assert stream.asked and max(stream.asked) < 128 * 1024


class CountedSocket:
    """The HTTP process's end of a worker's socketpair, counting the writes made to it."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.writes: list[int] = []

    def send(self, data: bytes) -> int:
        self.writes.append(len(data))
        return self.sock.send(data)


def test_the_requests_of_one_scheduler_pass_go_to_their_worker_in_one_write() -> None:
    import socket

    from alertd.ingest_pool import _Child

    async def main() -> None:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        counted = CountedSocket(ours)
        pool = IngestPool(SimpleNamespace(), Path("/nonexistent/alertd.toml"), 1)
        child = _Child(process=None, stream=trio.SocketStream(trio.socket.from_stdlib_socket(ours)), sock=counted)  # type: ignore[arg-type]
        pool.live.append(child)
        pass_end = loop_pass.at_pass_end(pool._flush)  # (as pool.run adds it)
        replies: list[Reply | None] = []

        async def post(index: int) -> None:
            replies.append(
                await pool.receive(
                    "alarms", "POST", [], b"%d" % index, "", 1.0, oversize=False, body_size=1, timed_out=False
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool._read, child)
            for index in range(5):
                nursery.start_soon(post, index)  # (all five run in the same pass)
            await trio.testing.wait_all_tasks_blocked()
            assert counted.writes and len(counted.writes) == 1, counted.writes
            got: list[tuple[Any, ...]] = []
            data = theirs.recv(1 << 20)
            while data:
                size = int.from_bytes(data[:4], "big")
                got.append(marshal.loads(data[4 : 4 + size]))
                data = data[4 + size :]
            assert sorted(frame[4] for frame in got) == [b"%d" % i for i in range(5)]
            theirs.sendall(b"".join(encode((frame[0], 200, "OK\n", [], [], False, False)) for frame in got))
            with trio.fail_after(5):
                while len(replies) < 5:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        loop_pass.remove(pass_end)
        assert all(reply is not None and reply.status == 200 for reply in replies)
        theirs.close()

    trio.run(main)
