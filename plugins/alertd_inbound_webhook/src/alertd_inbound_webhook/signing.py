"""HMAC-SHA256 request signatures: what a sender computes and how alertd checks it (pure).

Without a timestamp header the signature covers the raw body; with one, it covers
``<timestamp>.<body>`` (as Stripe and Slack do), so that a captured request cannot be
replayed later with a fresh timestamp.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: bytes, body: bytes, timestamp: str | None = None) -> str:
    """The header value a sender puts in ``X-Signature-256``."""
    signed = body if timestamp is None else timestamp.encode() + b"." + body
    return PREFIX + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, body: bytes, header: str, timestamp: str | None = None) -> bool:
    """Whether ``header`` (``sha256=<hex>``, or the bare hex) is the signature of the body.

    Compared in constant time; hex case does not matter."""
    given = header.strip()
    if given[: len(PREFIX)].lower() == PREFIX:
        given = given[len(PREFIX) :]
    expected = sign(secret, body, timestamp)[len(PREFIX) :]
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode())


def timestamp_problem(value: str, now: float, tolerance: float) -> str:
    """Why a timestamp header value (unix seconds) is unacceptable, or ''."""
    if not value or len(value) > 20:
        return "is missing or too long" if not value else "is too long"
    try:
        sent = float(value)
    except ValueError:
        return "is not a unix time in seconds"
    if sent != sent or abs(now - sent) > tolerance:  # (NaN compares false: refused too)
        return f"is more than {tolerance:g} s away from now (a replay, or a clock off)"
    return ""
