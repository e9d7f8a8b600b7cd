"""Signed action links: acknowledge or close an alert from an email, a push button, a chat.

A link carries (alert, user, action, expiry, nonce) and an HMAC-SHA256 over them
with the daemon's link secret (``[links] secret``, or one generated on first
start and kept in the database). It is usable once: the nonce is recorded when
used. ``GET /act/{token}`` shows a confirmation page with a button (mail scanners
fetch links; they do not press buttons); ``POST /act/{token}`` carries it out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alertd.config import Config

if TYPE_CHECKING:
    from sqlite_utils import Database

META_KEY = "links_secret"
ACTIONS = ("ack", "close")


class LinkError(Exception):
    pass


@dataclass(frozen=True)
class Action:
    alert_id: int
    user: str
    action: str
    expires_at: float
    nonce: str


def ensure_secret(db: Database, config: Config) -> bytes:
    if config.raw.links.secret is not None:
        return config.raw.links.secret.get_secret_value().encode()
    row = db.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row is not None:
        return row[0].encode()
    value = secrets.token_urlsafe(32)
    db.execute("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)", [META_KEY, value, time.time()])
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, alert_id: int, user: str, action: str, expires_at: float) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    payload = json.dumps(
        {"a": alert_id, "u": user, "x": action, "e": int(expires_at), "n": secrets.token_urlsafe(9)},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(secret: bytes, token: str, now: float) -> Action:
    """The action a token grants; LinkError if forged, malformed or expired (not checked: reuse)."""
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except ValueError:
        raise LinkError("malformed link") from None
    if not hmac.compare_digest(hmac.new(secret, payload, hashlib.sha256).digest(), mac):
        raise LinkError("this link is not valid")
    try:
        data = json.loads(payload)
        action = Action(int(data["a"]), str(data["u"]), str(data["x"]), float(data["e"]), str(data["n"]))
    except (ValueError, KeyError, TypeError):
        raise LinkError("malformed link") from None
    if action.action not in ACTIONS:
        raise LinkError("unknown action")
    if now > action.expires_at:
        raise LinkError("this link has expired")
    return action


def mark_used(db: Database, action: Action, now: float) -> None:
    """Record the link's use; LinkError if it was used before. Runs in the command's transaction."""
    db.execute("DELETE FROM used_links WHERE expires_at < ?", [now])
    cursor = db.execute(
        "INSERT INTO used_links (nonce, alert_id, used_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [action.nonce, action.alert_id, now, action.expires_at],
    )
    if cursor.rowcount != 1:
        raise LinkError("this link has already been used")


def console_page(config: Config, alert_id: int) -> str:
    """The alert's page in the console, when a phone or a browser elsewhere can open it: the
    console on and ``server.public_url`` set (the listener's own address is not reachable); else ""."""
    if not (config.raw.web.enabled and config.raw.server.public_url):
        return ""
    return f"{config.public_url}/alerts/{alert_id}"


def links_for(config: Config, secret: bytes, alert_id: int, user: str, now: float) -> dict[str, str]:
    expires = now + config.raw.links.ttl_hours * 3600
    base = config.public_url
    out = {action: f"{base}/act/{sign(secret, alert_id, user, action, expires)}" for action in ACTIONS}
    out["view"] = view_link(config, alert_id)
    return out


def view_link(config: Config, alert_id: int) -> str:
    """The console's page when it is on (a browser opens it); else the API's JSON."""
    base = config.public_url
    return f"{base}/alerts/{alert_id}" if config.raw.web.enabled else f"{base}/api/v1/alerts/{alert_id}"
