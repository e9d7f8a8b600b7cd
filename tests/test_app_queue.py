"""hypercorn's hand-over of body messages to the app without a scheduler trip per message
(alertd.http.app_queue): the put does not yield while the channel has room, and waits (back-pressure)
when it is full; the app gets every message in order."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypercorn.config import Config
from hypercorn.trio.task_group import TaskGroup

from alertd.http import app_queue


def test_body_messages_reach_the_app_without_a_yield_until_the_queue_is_full() -> None:
    app_queue.install()
    app_queue.install()  # (once is enough; a second call changes nothing)
    config = Config()
    got: list[dict[str, Any]] = []
    release = trio.Event()

    async def app(scope: Any, receive: Any, send: Any, sync_spawn: Any, call_soon: Any) -> None:
        await release.wait()
        while True:
            message = await receive()
            got.append(message)
            if not message.get("more_body", False):
                return

    async def send(message: Any) -> None:
        pass

    async def main() -> None:
        async with TaskGroup() as group:
            put = await group.spawn_app(app, config, {"type": "http"}, send)
            messages = [{"type": "http.request", "body": bytes([i]), "more_body": True} for i in range(30)]
            messages.append({"type": "http.request", "body": b"", "more_body": False})
            with trio.testing.assert_no_checkpoints():  # room in the queue: no scheduler trip
                for message in messages[: config.max_app_queue_size]:
                    await put(message)
            release.set()
            for message in messages[config.max_app_queue_size :]:
                await put(message)  # the queue is full: waits for the app (back-pressure)
        assert got == messages

    trio.run(main)
