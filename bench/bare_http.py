"""bench/bare_http: the ceiling of issue 15's ingest ratio: hypercorn with no alertd behind it.

    .venv/bin/python bench/bare_http.py [--levels 8,32] [--duration 5] [--runs 2]

A bare ASGI app under hypercorn-trio, driven as ``alertd run`` drives it (alertd's adaptations of
hypercorn installed: ``lazy_protocols``, ``app_queue``, ``keep_alive``, ``direct_send``; ``--stock``
leaves hypercorn as released), answers ``GET /healthz`` at once, and reads the whole body
of a ``POST /in/...`` then answers 200: no token lookup, no signature, no rules, no commit. The
load is bench/ingest.py's: the same signed SNS requests, through bench/loadgen.py, so the POST
column is what hypercorn alone charges for reading and answering one SNS delivery.

Printed per level and run: GET and POST req/s, the server's CPU per request, p50, and
POST/GET. ``bench/ingest.py`` measures alertd against ``GET /healthz`` on the same server; this
ratio is how far hypercorn would let it go if alertd's own work per message cost nothing.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from typing import Any

from common import TOKEN, cpu_seconds, free_port, run_load, summary

from helpers import answer_lifespan


async def _text(send: Any, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
        return
    if scope["path"].startswith("/in/"):
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await _text(send, 200, b"accepted\n")
    else:
        await _text(send, 200, b"ok\n")


def serve(bind: str, stock: bool) -> None:
    """The server process: hypercorn-trio as daemon.run drives it (no access log)."""
    import hypercorn.trio
    import trio
    from hypercorn.config import Config

    if not stock:
        from alertd.http import app_queue, direct_send, keep_alive, lazy_protocols

        lazy_protocols.install()
        app_queue.install()
        keep_alive.install()
        direct_send.install()
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    trio.run(hypercorn.trio.serve, bare_app, config)


def wait_listening(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("the bare server never listened")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="8,32")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8000, help="signed notifications prepared")
    parser.add_argument("--stock", action="store_true", help="hypercorn as released, without alertd's adaptations")
    parser.add_argument("--serve", metavar="HOST:PORT", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.stock)
        return
    import ingest

    levels = [int(level) for level in args.levels.split(",")]
    pool = ingest.signed_pool(args.pool)
    posts = [("POST", f"/in/{TOKEN}", headers, body) for _message, body, headers in pool]
    gets = [("GET", "/healthz", {}, b"")] * 400_000
    port = free_port()
    command = [sys.executable, __file__, "--serve", f"127.0.0.1:{port}"] + (["--stock"] if args.stock else [])
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    figures: dict[str, list[float]] = {}
    try:
        wait_listening(port)
        print(
            f"{'level':>5}  {'run':>3}  {'GET req/s':>9}  {'ms CPU':>6}  {'p50 ms':>6}  "
            f"{'POST req/s':>10}  {'ms CPU':>6}  {'p50 ms':>6}  {'POST/GET':>8}"
        )
        for level in levels:
            for run in range(1, args.runs + 1):
                row = {}
                for kind, requests in (("get", gets), ("post", posts)):
                    before = cpu_seconds(server.pid)
                    result = run_load(port, requests, level, args.duration)
                    cpu_ms = 1000 * (cpu_seconds(server.pid) - before) / max(result["requests"], 1)
                    if result["errors"]:
                        raise SystemExit(f"bare_http: {result['errors']} {kind.upper()} requests failed")
                    row[kind] = (result["rps"], cpu_ms, result["p50_ms"])
                ratio = row["post"][0] / row["get"][0]
                figures.setdefault(f"ratio_c{level}", []).append(round(ratio, 3))
                print(
                    f"{level:>5}  {run:>3}  {row['get'][0]:>9.0f}  {row['get'][1]:>6.3f}  {row['get'][2]:>6.1f}  "
                    f"{row['post'][0]:>10.0f}  {row['post'][1]:>6.3f}  {row['post'][2]:>6.1f}  {ratio:>8.2f}"
                )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    summary("bare_http", {"stock": args.stock, **figures})


if __name__ == "__main__":
    main()
