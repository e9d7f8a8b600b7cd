"""The console's live view: open pages hear about committed alert events, pushed not polled.

The hub is one of the event dispatcher's in-process listeners (``runtime.listeners``); each
open page's server-sent-event stream has a small channel. A page that falls behind loses
notices, not data: every notice only says "refresh", and the page fetches what is current.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

# Notices waiting per page; more are dropped (the next one makes the page refresh anyway).
BUFFER = 8


class LiveHub:
    def __init__(self) -> None:
        self.clients: set[trio.MemorySendChannel[str]] = set()
        self.closed = False

    def close(self) -> None:
        """The daemon is stopping: every open stream ends (browsers reconnect to the next one)."""
        self.closed = True
        for channel in list(self.clients):
            channel.close()

    def __call__(self, events: list[Any]) -> None:
        notice = json.dumps(
            {"last_event": events[-1].id, "alerts": sorted({e.alert_id for e in events})[:100]},
            separators=(",", ":"),
        )
        for channel in list(self.clients):
            try:
                channel.send_nowait(notice)
            except trio.WouldBlock:
                pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.clients.discard(channel)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[str]]:
        send, receive = trio.open_memory_channel[str](BUFFER)
        if self.closed:
            send.close()
        else:
            self.clients.add(send)
        try:
            yield receive
        finally:
            self.clients.discard(send)
            send.close()
