"""Integration URLs: each integration has a secret token, ``POST {public_url}/in/{token}``.

A token comes from the config file or is generated (192 random bits) on first
start and kept in the ``meta`` table, so the URL handed to AWS stays the same
across restarts. Lookups hash the presented token and compare in constant time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config, Integration

META_PREFIX = "integration_token:"


def ensure_named_tokens(db: Database, prefix: str, configured: dict[str, str | None]) -> dict[str, str]:
    """A secret token per name: the configured one, else the stored one, else a new one (stored)."""
    stored = {
        row[0][len(prefix) :]: row[1]
        for row in db.execute("SELECT key, value FROM meta WHERE key LIKE ?", [prefix + "%"])
    }
    tokens: dict[str, str] = {}
    for name, token in configured.items():
        if token is None:
            token = stored.get(name)
        if token is None:
            import secrets  # here: `alertd oncall` reads stored tokens without loading OpenSSL (hashlib)

            token = secrets.token_urlsafe(24)
            db.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [prefix + name, token, time.time()],
            )
        tokens[name] = token
    return tokens


def ensure_tokens(db: Database, config: Config) -> dict[str, str]:
    """The URL token of every integration."""
    configured = {
        name: None if i.config.token is None else i.config.token.get_secret_value()
        for name, i in config.integrations.items()
    }
    return ensure_named_tokens(db, META_PREFIX, configured)


def ensure_ical_tokens(db: Database, config: Config) -> dict[str, str]:
    """The secret token of every schedule's iCal feed (``/schedules/{name}.ics?token=...``)."""
    configured = {
        name: None if s.ical_token is None else s.ical_token.get_secret_value()
        for name, s in config.raw.schedules.items()
    }
    return ensure_named_tokens(db, "schedule_ical_token:", configured)


def _digest(token: str) -> bytes:
    import hashlib  # the daemon's lookups only (the CLI skips loading OpenSSL): a dict hit after the first

    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class TokenIndex:
    """Find an integration by the token in its URL without leaking timing about the secret."""

    def __init__(self, config: Config, tokens: dict[str, str]) -> None:
        self._by_digest: dict[bytes, tuple[str, Integration]] = {}
        for name, token in tokens.items():
            if name in config.integrations:
                self._by_digest[_digest(token)] = (token, config.integrations[name])

    def lookup(self, presented: str) -> Integration | None:
        # The dict is keyed by a hash, so the lookup's timing says nothing about the token's
        # characters; the final comparison is constant-time all the same.
        import hmac

        found = self._by_digest.get(_digest(presented))
        if found is None or not hmac.compare_digest(found[0].encode(), presented.encode("utf-8", "surrogateescape")):
            return None
        return found[1]


def integration_url(config: Config, token: str) -> str:
    return f"{config.public_url}/in/{token}"
