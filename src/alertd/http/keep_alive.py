"""hypercorn's keep-alive timer, moved instead of restarted: no task per request.

hypercorn (trio) times an idle HTTP/1.1 connection out with a ``TrioSingleTask``: when a request
arrives it cancels the timer's task (a lock, a cancellation raised and unwound in that task), and
when the response ends it starts a new one (a lock, ``nursery.start``: a task spawned and a
scheduler round until it has started). Every request pays both, on the event loop's one core:
some 10-15% of the HTTP process's CPU per request, a GET's or a POST's (py-spy).
``install()`` puts ``IdleTimer`` in its place in ``hypercorn.trio.tcp_server``: one task per
connection, started at its first idle spell, that sleeps towards a deadline the connection moves:
to "now + keep_alive_timeout" when it goes idle, to never when a request arrives. Same behaviour:
an idle connection closes after ``keep_alive_timeout`` or at once when the server stops
(``context.terminated``); a connection in a request is not closed by either until its response
has ended. Checked for hypercorn 0.18 (``tests/test_keep_alive.py``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio


class IdleTimer:
    """``TrioSingleTask``'s ``restart``/``stop`` for TCPServer's ``_idle_timeout`` action."""

    def __init__(self) -> None:
        self._deadline = math.inf
        self._busy = True
        self._scope: trio.CancelScope | None = None
        self._started = False

    async def restart(self, task_group: Any, action: Callable[[], Awaitable[None]]) -> None:
        """The connection is idle from now (``action`` is the server's ``_idle_timeout``)."""
        server: Any = getattr(action, "__self__", None)
        self._busy = False
        self._deadline = trio.current_time() + server.config.keep_alive_timeout
        if not self._started:
            self._started = True
            task_group._nursery.start_soon(self._watch, server)
        elif self._scope is not None:
            self._scope.deadline = self._deadline

    async def stop(self) -> None:
        """A request arrived: no time-out until its response has ended."""
        self._busy = True
        self._deadline = math.inf
        if self._scope is not None:
            self._scope.deadline = math.inf

    async def _watch(self, server: Any) -> None:
        terminated = server.context.terminated
        while True:
            with trio.CancelScope(deadline=self._deadline) as scope:
                self._scope = scope
                await terminated.wait()
            self._scope = None
            if self._busy:
                # The server stops (or a deadline fired as a request came) during a request: the
                # connection closes once idle, by the watch that goes idle starts (or it ends in
                # the request: then no watch is left waiting for it).
                self._started = False
                return
            if not terminated.is_set() and trio.current_time() < self._deadline:
                continue  # a request came and went before this task saw its deadline pass
            break  # idle past the deadline, or idle as the server stops
        with trio.CancelScope(shield=True):
            await server._initiate_server_close()


def install() -> None:
    """Use IdleTimer for hypercorn's trio connections (once); a later hypercorn whose TCPServer
    does not keep the timer by that name is left as it is."""
    from hypercorn.trio import tcp_server

    if getattr(tcp_server, "TrioSingleTask", None) is IdleTimer:
        return
    if hasattr(tcp_server.TCPServer, "_idle_timeout") and hasattr(tcp_server, "TrioSingleTask"):
        tcp_server.TrioSingleTask = IdleTimer  # type: ignore[attr-defined,misc]
