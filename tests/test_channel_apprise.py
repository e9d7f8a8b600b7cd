"""The apprise channel plugin: a json:// Apprise URL against a real local HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertd_apprise import CHANNEL, AppriseSettings
from channel_fixtures import HttpPeer, Reply, make_notification
from helpers import free_port, run_cli_in_process, write_config

# Apprise 2.3 still imports the stdlib's imghdr (deprecated in 3.11); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as server:
        yield server


def json_url(peer: HttpPeer, path: str = "/apprise/alice") -> str:
    return f"json://127.0.0.1:{peer.port}{path}"


def push(address: str, purpose: str = "alert", **overrides: Any) -> Any:
    return make_notification(purpose, kind="push", address=address, **overrides)


async def test_json_url_receives_title_and_body(peer: HttpPeer) -> None:
    notification = push(json_url(peer))
    result = await CHANNEL.send(notification, AppriseSettings(timeout=5), None)
    assert result.status == "sent", result.error

    (request,) = peer.requests
    assert (request.method, request.path) == ("POST", "/apprise/alice")
    body = request.json()
    assert body["title"] == "[CRITICAL] #42 Failed console login for root"
    assert body["type"] == "failure"
    message = body["message"]
    assert "3 failed sign-ins in 5 minutes" in message
    assert "account: 123456789012" in message
    assert f"Acknowledge: {notification.links['ack']}" in message
    assert f"Close: {notification.links['close']}" in message


async def test_closure_notice_and_title_maxlen(peer: HttpPeer) -> None:
    result = await CHANNEL.send(push(json_url(peer), "closed"), AppriseSettings(timeout=5, title_maxlen=12), None)
    assert result.status == "sent", result.error
    body = peer.requests[0].json()
    assert body["title"] == "[RESOLVED] …"
    assert body["type"] == "success"
    assert "Resolved" in body["message"]
    assert "/act/" not in body["message"]


async def test_a_javascript_url_is_not_shown(peer: HttpPeer) -> None:
    notification = push(json_url(peer), alert={"url": "javascript:alert(document.cookie)"})
    result = await CHANNEL.send(notification, AppriseSettings(timeout=5), None)
    assert result.status == "sent", result.error
    message = peer.requests[0].json()["message"]
    assert "javascript:" not in message and "More:" not in message
    assert "3 failed sign-ins in 5 minutes" in message


async def test_failing_server_is_retried(peer: HttpPeer) -> None:
    peer.reply = Reply(500, "down")
    result = await CHANNEL.send(push(json_url(peer)), AppriseSettings(timeout=5), None)
    assert result.status == "retry"
    assert "500" in (result.error or "")
    assert len(peer.requests) == 1


async def test_unreachable_server_is_retried() -> None:
    started = time.monotonic()
    result = await CHANNEL.send(push(f"json://127.0.0.1:{free_port()}/x"), AppriseSettings(timeout=5), None)
    assert result.status == "retry"
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("address", ["alice@example.com", "nosuchscheme://x/y", "json://"])
async def test_unusable_url_fails(address: str) -> None:
    result = await CHANNEL.send(push(address), AppriseSettings(), None)
    assert result.status == "failed"


async def test_secrets_in_the_url_stay_out_of_errors(peer: HttpPeer) -> None:
    peer.reply = Reply(403)
    address = f"json://user:hunter2-secret@127.0.0.1:{peer.port}/x"
    result = await CHANNEL.send(push(address), AppriseSettings(timeout=5), None)
    assert result.status == "retry"
    assert "hunter2-secret" not in (result.error or "")
    assert peer.requests[0].headers["authorization"].startswith("Basic ")


def test_check_config_names_bad_and_unknown_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path, "\n[channels.apprise]\ntitle_maxlen = 0\nurls = []\n")
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert (
        "channels.apprise.urls: unknown key (expected one of: concurrency, timeout, title_maxlen) (plugin apprise)"
        in result.stderr
    )
    assert "channels.apprise.title_maxlen: expected a number >= 1; found number 0 (plugin apprise)" in result.stderr


def test_only_one_channel_may_serve_push(tmp_path: Path) -> None:
    config = write_config(tmp_path, "\n[channels.apprise]\n[channels.ntfy]\n")
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "contact kind 'push' is already served by channel 'apprise'" in result.stderr
