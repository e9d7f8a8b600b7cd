"""Signed action links: a page that asks, a POST that acts, once, before expiry, unforgeable."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from alertd import links
from helpers import wait_until
from test_escalation import escalation_daemon, open_through_sns, sends


def test_action_links(tmp_path: Path) -> None:
    daemon, sent, db = escalation_daemon(tmp_path)
    with daemon:
        first = open_through_sns(daemon, db)
        second = open_through_sns(daemon, db)
        wait_until(lambda: {s["alert_id"] for s in sends(sent)} >= {first, second}, what="pages")
        page = {s["alert_id"]: s for s in sends(sent)}
        ack_url, close_url = page[first]["links"]["ack"], page[second]["links"]["close"]
        assert ack_url.startswith(f"{daemon.url}/act/")

        # GET only asks (mail scanners follow links); nothing changes.
        shown = httpx.get(ack_url, timeout=10)
        assert shown.status_code == 200 and "Acknowledge alert #" in shown.text and '<form method="post"' in shown.text
        assert db.rows("SELECT status FROM alerts WHERE id = ?", (first,))[0]["status"] == "open"

        done = httpx.post(ack_url, timeout=10)
        assert done.status_code == 200 and f"Alert #{first} acknowledged" in done.text
        alert = db.rows("SELECT * FROM alerts WHERE id = ?", (first,))[0]
        assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", "alice")
        events = db.rows(
            "SELECT kind, actor, via FROM alert_events WHERE alert_id = ? AND kind = 'acknowledged'", (first,)
        )
        assert events == [{"kind": "acknowledged", "actor": "alice", "via": "link"}]

        again = httpx.post(ack_url, timeout=10)
        assert again.status_code == 409 and "already been used" in again.text

        assert httpx.post(close_url, timeout=10).status_code == 200
        assert db.rows("SELECT status FROM alerts WHERE id = ?", (second,))[0]["status"] == "closed"

        # Forged: the same payload with another alert id, or a garbled signature.
        payload, mac = close_url.rsplit("/", 1)[1].split(".")
        forged = f"{daemon.url}/act/{payload[:-2]}xx.{mac}"
        assert httpx.post(forged, timeout=10).status_code == 403
        assert httpx.get(f"{daemon.url}/act/not-a-token", timeout=10).status_code == 403

        # Expired: signed with the daemon's own secret, but an expiry in the past.
        secret = db.rows("SELECT value FROM meta WHERE key = 'links_secret'")[0]["value"].encode()
        stale = links.sign(secret, first, "alice", "close", time.time() - 1)
        response = httpx.post(f"{daemon.url}/act/{stale}", timeout=10)
        assert response.status_code == 403 and "expired" in response.text
        fresh = links.sign(secret, first, "alice", "close", time.time() + 60)
        assert httpx.post(f"{daemon.url}/act/{fresh}", timeout=10).status_code == 200


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
