"""Signed action links, the pure part: what a token grants, until when, and to whom."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from alertd import links
from alertd.config import build_config
from alertd.store.schema import migrate
from postgres import connect

# Each test on SQLite and on PostgreSQL (tests/postgres.py).
pytestmark = pytest.mark.usefixtures("each_backend")

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_payload(payload: dict, secret: bytes = SECRET) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64(raw)}.{_b64(hmac.new(secret, raw, hashlib.sha256).digest())}"


def test_a_token_grants_exactly_what_was_signed() -> None:
    token = links.sign(SECRET, 42, "alice", "close", NOW + 60)
    action = links.verify(SECRET, token, NOW)
    assert (action.alert_id, action.user, action.action, action.expires_at) == (42, "alice", "close", NOW + 60)
    assert links.verify(SECRET, token, NOW + 60).action == "close"  # valid up to its expiry
    with pytest.raises(links.LinkError, match="expired"):
        links.verify(SECRET, token, NOW + 61)
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify(b"t" * 32, token, NOW)


def test_two_tokens_for_the_same_action_are_different_links() -> None:
    one = links.verify(SECRET, links.sign(SECRET, 1, "a", "ack", NOW + 60), NOW)
    two = links.verify(SECRET, links.sign(SECRET, 1, "a", "ack", NOW + 60), NOW)
    assert one.nonce != two.nonce


def test_a_validly_signed_unknown_action_is_refused() -> None:
    token = signed_payload({"a": 1, "u": "alice", "x": "delete", "e": int(NOW + 60), "n": "abc"})
    with pytest.raises(links.LinkError, match="unknown action"):
        links.verify(SECRET, token, NOW)
    with pytest.raises(ValueError):
        links.sign(SECRET, 1, "alice", "delete", NOW + 60)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!.!!"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(links.LinkError):
        links.verify(SECRET, token, NOW)


def test_links_expire_after_ttl_hours_and_are_used_once(tmp_path: Path) -> None:
    config = build_config(
        tmp_path / "a.toml", {"links": {"ttl_hours": 2}, "server": {"public_url": "https://on.call/x"}}, None
    )
    urls = links.links_for(config, SECRET, 7, "bob", NOW)
    assert urls["view"] == "https://on.call/x/alerts/7"  # the console's page (a browser opens it)
    assert urls["ack"].startswith("https://on.call/x/act/") and urls["close"].startswith("https://on.call/x/act/")
    off = build_config(
        tmp_path / "b.toml", {"web": {"enabled": False}, "server": {"public_url": "https://on.call/x"}}, None
    )
    assert links.links_for(off, SECRET, 7, "bob", NOW)["view"] == "https://on.call/x/api/v1/alerts/7"
    ack = links.verify(SECRET, urls["ack"].rsplit("/", 1)[1], NOW)
    assert (ack.action, ack.user, ack.alert_id, ack.expires_at) == ("ack", "bob", 7, NOW + 2 * 3600)

    db = connect(tmp_path / "l.db")
    migrate(db)
    links.mark_used(db, ack, NOW + 10)
    with pytest.raises(links.LinkError, match="already been used"):
        links.mark_used(db, ack, NOW + 3600)  # still refused an hour later, before it expires
    close = links.verify(SECRET, urls["close"].rsplit("/", 1)[1], NOW)
    links.mark_used(db, close, NOW + 20)  # the other link of the same page still works


def test_every_byte_of_the_mac_counts() -> None:
    token = links.sign(SECRET, 42, "alice", "ack", NOW + 60)
    payload, mac = token.split(".")
    raw = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    for i in (0, len(raw) // 2, len(raw) - 1):
        bad = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]
        with pytest.raises(links.LinkError, match="not valid"):
            links.verify(SECRET, f"{payload}.{_b64(bad)}", NOW)
    with pytest.raises(links.LinkError, match="not valid"):
        links.verify(SECRET, f"{payload}.{_b64(raw[:-1])}", NOW)  # a shortened MAC
