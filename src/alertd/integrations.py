"""Integration URLs: each integration has a secret token, ``POST {public_url}/in/{token}``.

A token comes from the config file or is generated (192 random bits) on first
start and kept in the ``meta`` table, so the URL handed to AWS stays the same
across restarts. Lookups hash the presented token and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlite_utils import Database

from alertd.config import Config, Integration

META_PREFIX = "integration_token:"


def ensure_tokens(db: Database, config: Config) -> dict[str, str]:
    """The token of every integration, generating and storing the missing ones."""
    stored = {
        row[0][len(META_PREFIX) :]: row[1]
        for row in db.execute("SELECT key, value FROM meta WHERE key LIKE ?", [META_PREFIX + "%"])
    }
    tokens: dict[str, str] = {}
    for name, integ in config.integrations.items():
        if integ.config.token is not None:
            tokens[name] = integ.config.token.get_secret_value()
        elif name in stored:
            tokens[name] = stored[name]
        else:
            token = secrets.token_urlsafe(24)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value, updated_at) VALUES (?, ?, ?)",
                [META_PREFIX + name, token, time.time()],
            )
            tokens[name] = token
    return tokens


def _digest(token: str) -> bytes:
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
        found = self._by_digest.get(_digest(presented))
        if found is None or not hmac.compare_digest(found[0].encode(), presented.encode("utf-8", "surrogateescape")):
            return None
        return found[1]


def integration_url(config: Config, token: str) -> str:
    return f"{config.public_url}/in/{token}"
