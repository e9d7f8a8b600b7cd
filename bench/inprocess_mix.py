"""What the in-process benches share: the ingest mix signed as SNS notifications, log lines to
/dev/null (formatted as on stderr), and posting bodies to /in/ from N concurrent tasks.

Imported by bench/ingest_handler.py, bench/inbound_loop.py and bench/writer_job.py (after they
put tests/ and bench/ on sys.path)."""

from __future__ import annotations

import json
import logging
from typing import Any

import ingest
import trio

import sns_signing
from alertd.log import setup_logging
from inbound_fixtures import TOKEN


def signed_bodies(count: int, seed: int) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` messages of bench/ingest.py's mix as signed SNS notification bodies and headers."""
    bodies = []
    for message, message_id in ingest.make_traffic(count, seed=seed):
        envelope = sns_signing.notification(message, message_id=message_id)
        bodies.append((json.dumps(envelope).encode(), sns_signing.headers_for(envelope)))
    return bodies


def quiet_logging() -> None:
    """Log at info as the daemon does, to /dev/null (formatting still costs what it costs)."""
    setup_logging("info")
    handler = logging.getLogger().handlers[0]
    handler.stream = open("/dev/null", "w")  # type: ignore[attr-defined]  # noqa: SIM115


async def post_all(app: Any, items: list[tuple[bytes, dict[str, str]]], concurrency: int) -> None:
    """POST every body to the SNS integration from ``concurrency`` tasks; each must get a 200."""
    it = iter(items)

    async def worker() -> None:
        for body, headers in it:
            response = await app.post(f"/in/{TOKEN}", content=body, headers=headers)
            assert response.status_code == 200, response.text

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
