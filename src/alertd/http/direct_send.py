"""hypercorn's writes to a plain TCP connection made at once when the socket takes them.

hypercorn (trio) writes each piece of a response (its head, its body, the empty end of a body
framed by Content-Length) through ``TCPServer.protocol_send``: a ``trio.Lock`` taken and a
shielded ``send_all``, each a trip through the scheduler (the lock's acquire and the socket
send both checkpoint), three or four per response, and an empty write for the end. ``install()``
wraps ``protocol_send`` so that, when no other write of the connection is under way, the bytes
go to the non-blocking socket directly (one ``write``, no scheduler trip); an empty piece is not
written. Whatever the socket does not take at once (full buffer), an error (peer gone), TLS, or
a write already under way goes the way it went before, so back-pressure and hypercorn's handling
of a closed connection are unchanged.
Checked for hypercorn 0.18 (``tests/test_direct_send.py``).
"""

from __future__ import annotations

import os
from typing import Any

import trio


def install() -> None:
    """Wrap ``hypercorn.trio.tcp_server.TCPServer.protocol_send`` (once)."""
    from hypercorn.events import RawData
    from hypercorn.trio.tcp_server import TCPServer

    protocol_send = TCPServer.protocol_send
    if getattr(protocol_send, "__alertd_direct__", False):
        return

    async def direct_protocol_send(self: Any, event: Any) -> None:
        if type(event) is RawData:
            data = event.data
            if not data:
                return  # (the end of a body framed by its length: no bytes)
            stream = self.stream
            if type(stream) is trio.SocketStream and not self.send_lock.locked():
                fd = stream.socket.fileno()
                if fd != -1 and not stream.socket.did_shutdown_SHUT_WR:
                    try:
                        written = os.write(fd, data)
                    except OSError:  # full (BlockingIOError), or the peer gone: the usual way
                        written = 0
                    if written == len(data):
                        return
                    if written:
                        event = RawData(data=data[written:])
        await protocol_send(self, event)

    direct_protocol_send.__alertd_direct__ = True  # type: ignore[attr-defined]
    TCPServer.protocol_send = direct_protocol_send  # type: ignore[method-assign]
