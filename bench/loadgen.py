"""A small HTTP/1.1 keep-alive load generator (asyncio, raw sockets), run as its own process.

    python bench/loadgen.py REQUESTS.pickle RESULT.json --host 127.0.0.1 --port 8080 -c 16 -d 10

REQUESTS.pickle holds a list of (method, path, headers: dict, body: bytes). Connections take
requests from the list in order (each request is sent at most once); the run ends after the
duration or when the list is used up. The result is the list of (start, end, status, index)
plus totals. Kept free of alertd imports so that it measures only HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import time


async def connection(
    host: str, port: int, requests: list, cursor: list[int], deadline: float, out: list, interval: float = 0.0
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if interval:  # a steady rate instead of as fast as possible
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            index = cursor[0]
            if index >= len(requests):
                return
            cursor[0] += 1
            method, path, headers, body = requests[index]
            head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
            started = time.monotonic()
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status_line = await reader.readline()
            if not status_line:
                out.append((started, time.monotonic(), 0, index))
                return
            status = int(status_line.split()[1])
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            out.append((started, time.monotonic(), status, index))
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        out.append((time.monotonic(), time.monotonic(), 0, -1))
    finally:
        writer.close()


async def main_async(args: argparse.Namespace) -> dict:
    with open(args.requests, "rb") as fh:
        requests = pickle.load(fh)
    out: list = []
    cursor = [0]
    started = time.monotonic()
    deadline = started + args.duration
    interval = args.concurrency / args.rate if args.rate else 0.0
    await asyncio.gather(
        *(connection(args.host, args.port, requests, cursor, deadline, out, interval) for _ in range(args.concurrency))
    )
    elapsed = time.monotonic() - started
    return {"elapsed": elapsed, "results": out, "exhausted": cursor[0] >= len(requests)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("requests")
    parser.add_argument("result")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="total requests/s (default: as fast as possible)")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    with open(args.result, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
