"""Frames between the HTTP process and its ingest workers (alertd.ingest_worker).

A frame is a 4-byte big-endian length, then a ``marshal`` of a tuple of plain values (str,
bytes, numbers, dicts, lists): about ten times cheaper than pickle on the HTTP side, and it
cannot build arbitrary objects. The peer is our own child over a socketpair; frames are
still bounded, so a confused peer costs an error, not memory.

Request (parent -> worker)::

    (request id, integration name, method, headers, body, remote address, received_at,
     oversize, body size, timed out)

with the headers as the server gave them, (name, value) byte pairs that the worker decodes
(``decoded_headers``), or already decoded into a dict (the HTTP process scrubbed the URL token
from a value).

Reply (worker -> parent)::

    (request id, status, body, inbound metric labels, accepted (integration, outcome,
     inbound id) triples, alert opened, alert events written)

Request id 0 is control: the worker's hello ``(0, pid)``; the parent's ``(0, "stop")`` (answer
what is in flight, then exit). Reply status 0: the worker does not handle this integration (its
config differs for a moment, during a reload): the HTTP process answers the request itself.
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">I")
MARSHAL_VERSION = 4
# Besides the body, a request frame carries headers (hypercorn bounds them to some 16 KiB).
FRAME_OVERHEAD_BYTES = 256 * 1024
REPLY_LIMIT_BYTES = 1024 * 1024
# Bytes asked for per read. Below glibc's mmap threshold (128 KiB): recv() allocates its whole
# size before trimming to what came, and 256 KiB cost an mmap and a munmap per read, some 20 µs
# for a frame of a few hundred bytes (5 µs at 64 KiB). A larger frame takes several reads.
RECEIVE_BYTES = 64 * 1024
NOT_HANDLED = 0
STOP = "stop"


Headers = dict[str, str] | list[tuple[bytes, bytes]]


def decoded_headers(headers: Headers) -> dict[str, str]:
    """A request's headers with lower-cased names (InboundRequest.headers)."""
    if isinstance(headers, dict):
        return headers
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}


class FrameError(Exception):
    """The peer sent a frame that is too large or not a frame."""


def encode(message: tuple[Any, ...]) -> bytes:
    data = marshal.dumps(message, MARSHAL_VERSION)
    return HEADER.pack(len(data)) + data


async def read_frames(stream: Any, limit: int, on_frame: Callable[[tuple[Any, ...]], None]) -> None:
    """Call ``on_frame`` for each frame read from the trio ``stream`` until its end of file.
    FrameError when a frame is larger than ``limit`` or does not decode."""
    buf = bytearray()
    while True:
        data = await stream.receive_some(RECEIVE_BYTES)
        if not data:
            return
        buf += data
        start = 0
        while len(buf) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buf, start)
            if size > limit:
                raise FrameError(f"frame of {size} bytes, more than the limit of {limit}")
            end = start + HEADER.size + size
            if len(buf) < end:
                break
            try:
                message = marshal.loads(bytes(buf[start + HEADER.size : end]))
            except (ValueError, EOFError, TypeError) as exc:
                raise FrameError(f"undecodable frame: {exc}") from None
            if not isinstance(message, tuple) or not message:
                raise FrameError("a frame is not a tuple")
            start = end
            on_frame(message)
        if start:
            del buf[:start]


def reply_problem(frame: tuple[Any, ...]) -> str | None:
    """Why ``frame`` (from a worker) is not a hello or a reply of the shapes above; None if it is.
    The HTTP process acts on a reply's values (status, counters, wake-ups): a malformed one from
    a confused worker must not reach them."""
    rid = frame[0]
    if type(rid) is not int or rid < 0:
        return "a frame's request id is not a number"
    if rid == 0:
        return None if len(frame) == 2 and type(frame[1]) is int else "a malformed hello"
    if len(frame) != 7:
        return f"a reply of {len(frame)} values, not 7"
    _rid, status, body, labels, accepted, opened, events = frame
    if not (type(status) is int and (status == NOT_HANDLED or 100 <= status <= 599)):
        return "a reply's status is not an HTTP status"
    if type(body) is not str or type(opened) is not bool or type(events) is not bool:
        return "a reply's body or flags are of the wrong type"
    if not (type(labels) is list and all(type(x) is tuple and all(type(v) is str for v in x) for x in labels)):
        return "a reply's metric labels are malformed"
    if not (
        type(accepted) is list
        and all(
            type(x) is tuple and len(x) == 3 and type(x[0]) is str and type(x[1]) is str and type(x[2]) is int
            for x in accepted
        )
    ):
        return "a reply's accepted messages are malformed"
    return None
