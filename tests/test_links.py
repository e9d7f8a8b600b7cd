"""Signed action links: a page that asks, a POST that acts, once, before expiry, unforgeable.

The links test runs the daemon in-process (tests/inprocess.py); the metrics test keeps a
subprocess, because the metric counters are per process (one registry)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from alertd import links
from helpers import wait_until
from inprocess import in_process
from test_escalation import escalation_daemon, open_in_process, open_through_sns, sends

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)


async def test_action_links(tmp_path: Path) -> None:
    daemon, sent, db = escalation_daemon(tmp_path)
    async with in_process(daemon.config) as app:
        base = app.runtime.config.public_url

        async def get(url: str) -> httpx.Response:
            return await app.get(url.removeprefix(base))

        async def post(url: str) -> httpx.Response:
            return await app.post(url.removeprefix(base))

        first = await open_in_process(app, db)
        second = await open_in_process(app, db)
        await app.wait_until(lambda: {s["alert_id"] for s in sends(sent)} >= {first, second}, what="pages")
        page = {s["alert_id"]: s for s in sends(sent)}
        ack_url, close_url = page[first]["links"]["ack"], page[second]["links"]["close"]
        assert ack_url.startswith(f"{base}/act/")

        # GET only asks (mail scanners follow links); nothing changes.
        shown = await get(ack_url)
        assert shown.status_code == 200 and "Acknowledge alert #" in shown.text and '<form method="post"' in shown.text
        assert db.rows("SELECT status FROM alerts WHERE id = ?", (first,))[0]["status"] == "open"

        done = await post(ack_url)
        assert done.status_code == 200 and f"Alert #{first} acknowledged" in done.text
        alert = db.rows("SELECT * FROM alerts WHERE id = ?", (first,))[0]
        assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", "alice")
        events = db.rows(
            "SELECT kind, actor, via FROM alert_events WHERE alert_id = ? AND kind = 'acknowledged'", (first,)
        )
        assert events == [{"kind": "acknowledged", "actor": "alice", "via": "link"}]

        again = await post(ack_url)
        assert again.status_code == 409 and "already been used" in again.text

        assert (await post(close_url)).status_code == 200
        assert db.rows("SELECT status FROM alerts WHERE id = ?", (second,))[0]["status"] == "closed"

        # Forged: the same payload with another alert id, or a garbled signature.
        payload, mac = close_url.rsplit("/", 1)[1].split(".")
        forged = f"{base}/act/{payload[:-2]}xx.{mac}"
        assert (await post(forged)).status_code == 403
        assert (await get(f"{base}/act/not-a-token")).status_code == 403

        # Expired: signed with the daemon's own secret, but an expiry in the past.
        secret = db.rows("SELECT value FROM meta WHERE key = 'links_secret'")[0]["value"].encode()
        stale = links.sign(secret, first, "alice", "close", time.time() - 1)
        response = await post(f"{base}/act/{stale}")
        assert response.status_code == 403 and "expired" in response.text
        fresh = links.sign(secret, first, "alice", "close", time.time() + 60)
        assert (await post(f"{base}/act/{fresh}")).status_code == 200


def test_metrics_count_what_happened(tmp_path: Path) -> None:
    daemon, sent, db = escalation_daemon(tmp_path)
    with daemon:
        open_through_sns(daemon, db)
        wait_until(lambda: len(sends(sent)) == 1, what="a page")
        wait_until(
            lambda: 'alertd_notifications_total{channel="recorder",result="sent"} 1.0' in daemon.get("/metrics").text,
            what="the notification metric",
        )
        text = daemon.get("/metrics").text
        assert 'alertd_inbound_messages_total{integration="alarms",outcome="Mapped Open"} 1.0' in text
        assert "alertd_escalation_steps_total 1.0" in text
