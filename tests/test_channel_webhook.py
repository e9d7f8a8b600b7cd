"""The webhook channel plugin against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertd_webhook import CHANNEL, WebhookSettings
from channel_fixtures import HttpPeer, Reply, closed_port_url, make_notification
from helpers import run_cli_in_process, write_config

SECRET = "whsec-0123456789abcdef0123456789abcdef"  # at least 32 characters


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as server:
        yield server


def settings(**values: Any) -> WebhookSettings:
    return WebhookSettings.model_validate({"timeout": 2, **values})


def hook(peer: HttpPeer, path: str = "/hooks/alice?x=1", **overrides: Any) -> Any:
    return make_notification(kind="webhook", address=peer.url + path, **overrides)


async def test_posts_signed_json_with_idempotency_key(peer: HttpPeer) -> None:
    peer.reply = Reply(200, {"ok": True}, {"X-Request-Id": "req-123"})
    notification = hook(peer)
    result = await CHANNEL.send(notification, settings(secret=SECRET), None)
    assert result.status == "sent", result.error
    assert result.provider_id == "req-123"

    (request,) = peer.requests
    assert request.method == "POST"
    assert request.path == "/hooks/alice?x=1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "alert:42:0:0:alice:email"
    signed = request.headers["x-alertd-timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-alertd-signature"], expected)
    assert abs(int(request.headers["x-alertd-timestamp"]) - time.time()) < 60

    body = request.json()
    assert body["purpose"] == "alert"
    assert body["alert"]["id"] == 42
    assert body["alert"]["status"] == "open"
    assert body["alert"]["title"] == "Failed console login for root"
    assert body["alert"]["description"].startswith("3 failed sign-ins")
    assert body["alert"]["severity"] == "critical"
    assert body["alert"]["url"] == "https://console.aws.example/cloudtrail/event/abc"
    assert body["alert"]["tags"] == ["security", "aws"]
    assert body["alert"]["fields"]["account"] == "123456789012"
    assert body["user"] == {"name": "alice", "full_name": "Alice Example"}
    assert body["links"]["ack"] == notification.links["ack"]
    assert body["links"]["close"] == notification.links["close"]


async def test_unsigned_without_secret_and_no_request_id(peer: HttpPeer) -> None:
    peer.reply = Reply(204)
    result = await CHANNEL.send(hook(peer, purpose="closed"), settings(), None)
    assert result.status == "sent" and result.provider_id is None
    (request,) = peer.requests
    assert "x-alertd-signature" not in request.headers
    assert request.headers["idempotency-key"] == "closed:42:alice:email"
    assert request.json()["purpose"] == "closed" and request.json()["links"] == {}


async def test_body_template_in_a_sandbox(peer: HttpPeer) -> None:
    template = (
        '{"text": {{ notification.subject | tojson }}, "sev": {{ alert.severity | tojson }}, '
        '"ack": {{ links.ack | tojson }}}'
    )
    result = await CHANNEL.send(
        hook(peer), settings(body_template=template, content_type="application/vnd.chat+json", secret=SECRET), None
    )
    assert result.status == "sent", result.error
    (request,) = peer.requests
    assert request.headers["content-type"] == "application/vnd.chat+json"
    assert json.loads(request.body) == {
        "text": "[CRITICAL] #42 Failed console login for root",
        "sev": "critical",
        "ack": "https://alertd.example.test/act/ACK-TOKEN-42.alice",
    }
    signed = request.headers["x-alertd-timestamp"].encode() + b"." + request.body
    assert request.headers["x-alertd-signature"].endswith(hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest())


INJECTION = 'Root login", "admin": true, "x": "'


async def test_json_body_template_escapes_values(peer: HttpPeer) -> None:
    # Data from the alarm (title, a field) can neither close a string nor add a key.
    template = (
        '{"text": "{{ alert.title }}", "who": "{{ alert.fields.user_agent }}", "id": {{ alert.id }}, '
        '"tags": {{ alert.tags }}, "none": {{ alert.missing | default(none) }}, "ok": {{ alert.id == 42 }}, '
        '"sev": {{ alert.severity | tojson }}}'
    )
    notification = hook(peer, alert={"title": INJECTION, "fields": {"user_agent": "a\\b\n</script>\u2028"}})
    result = await CHANNEL.send(notification, settings(body_template=template), None)
    assert result.status == "sent", result.error
    (request,) = peer.requests
    assert request.json() == {
        "text": INJECTION,
        "who": "a\\b\n</script>\u2028",
        "id": 42,
        "tags": ["security", "aws"],
        "none": None,
        "ok": True,
        "sev": "critical",
    }


async def test_json_content_type_with_parameters_and_suffix_is_json(peer: HttpPeer) -> None:
    template = '{"text": "{{ alert.title }}"}'
    for content_type in ("application/json; charset=utf-8", "application/vnd.chat+json"):
        peer.requests.clear()
        notification = hook(peer, alert={"title": INJECTION})
        result = await CHANNEL.send(notification, settings(body_template=template, content_type=content_type), None)
        assert result.status == "sent", result.error
        assert peer.requests[0].json() == {"text": INJECTION}


async def test_a_non_json_content_type_renders_text_as_is(peer: HttpPeer) -> None:
    notification = hook(peer, alert={"title": 'a "quoted" <b>'})
    result = await CHANNEL.send(
        notification, settings(body_template="Alert: {{ alert.title }}", content_type="text/plain"), None
    )
    assert result.status == "sent", result.error
    assert peer.requests[0].body == b'Alert: a "quoted" <b>'


async def test_a_json_template_that_does_not_give_json_fails_without_a_request(peer: HttpPeer) -> None:
    result = await CHANNEL.send(hook(peer), settings(body_template='{"text": {{ alert.title }}}'), None)
    assert result.status == "failed"
    assert "body_template" in (result.error or "") and "not valid JSON" in (result.error or "")
    assert peer.requests == []


async def test_a_json_template_nested_too_deep_fails_with_the_reason(peer: HttpPeer) -> None:
    result = await CHANNEL.send(hook(peer), settings(body_template='{{ "[" * 200000 }}'), None)
    assert result.status == "failed"
    assert "not valid JSON" in (result.error or "") and "nested deeper than" in (result.error or "")
    assert peer.requests == []


async def test_a_huge_body_template_is_cut_off(peer: HttpPeer) -> None:
    template = '{"text": "{{ alert.title * 5000000 }}"}'
    result = await CHANNEL.send(hook(peer), settings(body_template=template), None)
    assert result.status == "failed"
    assert "BudgetExceeded" in (result.error or "") and "* repetition" in (result.error or "")
    assert peer.requests == []


async def test_template_that_escapes_the_sandbox_fails(peer: HttpPeer) -> None:
    template = "{{ notification.__class__.__mro__ }}"
    result = await CHANNEL.send(hook(peer), settings(body_template=template), None)
    assert result.status == "failed"
    assert "body_template" in (result.error or "")
    assert peer.requests == []


def test_template_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="Jinja2 template"):
        settings(body_template="{{ oops")


async def test_allowed_hosts_and_schemes(peer: HttpPeer) -> None:
    only_other = settings(allowed_hosts=["hooks.example.com"])
    result = await CHANNEL.send(hook(peer), only_other, None)
    assert result.status == "failed" and "allowed_hosts" in (result.error or "")
    assert (await CHANNEL.send(hook(peer), settings(allowed_hosts=["127.0.0.1"]), None)).status == "sent"
    for address in ("ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", "http://"):
        result = await CHANNEL.send(make_notification(kind="webhook", address=address), settings(), None)
        assert result.status == "failed", address
    assert len(peer.requests) == 1


@pytest.mark.parametrize(
    ("reply", "status", "retry_after"),
    [
        (Reply(500, "boom"), "retry", None),
        (Reply(503), "retry", None),
        (Reply(408), "retry", None),
        (Reply(429, "slow down", {"Retry-After": "17"}), "retry", 17.0),
        (Reply(400, "bad request"), "failed", None),
        (Reply(404), "failed", None),
        (Reply(301, headers={"Location": "http://elsewhere.example/"}), "failed", None),
    ],
)
async def test_status_mapping(peer: HttpPeer, reply: Reply, status: str, retry_after: float | None) -> None:
    peer.reply = reply
    result = await CHANNEL.send(hook(peer), settings(), None)
    assert result.status == status
    assert result.retry_after == retry_after
    assert str(reply.status) in (result.error or "")


async def test_connection_refused_is_retried() -> None:
    result = await CHANNEL.send(make_notification(kind="webhook", address=closed_port_url()), settings(), None)
    assert result.status == "retry"


async def test_timeout_is_retried(peer: HttpPeer) -> None:
    peer.reply = Reply(200, delay=3)
    started = time.monotonic()
    result = await CHANNEL.send(hook(peer), settings(timeout=0.3), None)
    assert result.status == "retry"
    assert "0.3s" in (result.error or "")
    assert time.monotonic() - started < 2


def test_check_config_names_missing_and_unknown_keys(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '\n[channels.webhook]\ntimeout = "soon"\nsecrett = "x"\nbody_template = "{{ broken"\n'
    )
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "channels.webhook.secrett: unknown key (expected one of: " in result.stderr
    assert "channels.webhook.timeout: expected a number; found string 'soon' (plugin webhook)" in result.stderr
    assert "channels.webhook.body_template: expected a Jinja2 template" in result.stderr
