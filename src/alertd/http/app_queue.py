"""hypercorn's hand-over of a request's body to the app, without a scheduler trip per message.

hypercorn (trio) gives each request a trio memory channel and puts every body message in it with
``await channel.send(message)``. trio's ``send`` yields after it put a message that fits, so the
connection's reading task goes round the scheduler once per body message: a POST whose data and
end arrive in one read (an SNS delivery) cost two loop passes that a GET does not, and the app
saw its body before its end, so it waited one more. ``install()`` wraps hypercorn's
``TaskGroup.spawn_app`` so that the put is ``send_nowait``, falling back to the awaited ``send``
when the channel is full (hypercorn's ``max_app_queue_size``: back-pressure as before). The
reading task still yields at each socket read, so it cannot starve the others.
Checked for hypercorn 0.18 (``tests/test_app_queue.py`` checks the hand-over by name).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

Put = Callable[[Any], Awaitable[None]]


def nowait_put(channel: trio.MemorySendChannel[Any]) -> Put:
    """``channel.send`` that yields only when the channel is full."""

    async def put(message: Any) -> None:
        try:
            channel.send_nowait(message)
        except trio.WouldBlock:
            await channel.send(message)

    return put


def install() -> None:
    """Wrap hypercorn's ``TaskGroup.spawn_app`` (once); another put than a memory channel's ``send``
    (a later hypercorn) is left as it is."""
    from hypercorn.trio.task_group import TaskGroup

    spawn_app = TaskGroup.spawn_app
    if getattr(spawn_app, "__alertd_nowait__", False):
        return

    async def spawn_app_nowait(self: TaskGroup, *args: Any, **kwargs: Any) -> Put:
        put = await spawn_app(self, *args, **kwargs)
        channel = getattr(put, "__self__", None)
        if isinstance(channel, trio.MemorySendChannel) and getattr(put, "__name__", "") == "send":
            return nowait_put(channel)
        return put

    spawn_app_nowait.__alertd_nowait__ = True  # type: ignore[attr-defined]
    TaskGroup.spawn_app = spawn_app_nowait  # type: ignore[method-assign]
