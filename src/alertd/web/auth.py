"""Console access: argon2 password hashes, sessions and failed-login counts, all rows in SQLite.

The functions taking a ``db`` run in a writer job or on a reader; hashing and verifying run
in a worker thread (argon2 is ~50 ms of CPU on purpose). A session cookie is a random token;
the table keeps its SHA-256, so a copy of the database opens no session.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
FAILURE_WINDOW = 15 * 60
# An address alone (whatever user names it tries) gets this many times the per-user allowance.
ADDRESS_FACTOR = 4
COOKIE = "alertd_session"
LOGIN_COOKIE = "alertd_login"


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# Verified when the user has no password, so that the time taken does not tell which users have one.
_DUMMY: list[str] = []


def verify_password(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if stored is None:
        if not _DUMMY:
            _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
        stored, password = _DUMMY[0], password + "\x00never"
    try:
        return bool(_hasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def set_password(db: Database, user: str, hashed: str, now: float) -> int:
    """Store ``user``'s hash; end the user's sessions (a new password logs everyone out). Returns
    how many sessions ended."""
    db.execute(
        "INSERT INTO web_passwords (user, hash, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        [user, hashed, now],
    )
    return db.execute("DELETE FROM web_sessions WHERE user = ?", [user]).rowcount


def stored_hash(db: Database, user: str) -> str | None:
    row = db.execute("SELECT hash FROM web_passwords WHERE user = ?", [user]).fetchone()
    return None if row is None else row[0]


def users_with_passwords(db: Database) -> set[str]:
    return {r[0] for r in db.execute("SELECT user FROM web_passwords").fetchall()}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires_at: float


def create_session(db: Database, user: str, now: float, lifetime: float) -> tuple[str, Session]:
    """A new session for ``user``: (the cookie value, the session). Expired rows are dropped here."""
    db.execute("DELETE FROM web_sessions WHERE expires_at < ?", [now])
    token = secrets.token_urlsafe(32)
    session = Session(user, secrets.token_urlsafe(32), now + lifetime)
    db.execute(
        "INSERT INTO web_sessions (id_hash, user, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        [_digest(token), user, session.csrf, now, session.expires_at],
    )
    return token, session


def find_session(db: Database, token: str, now: float) -> Session | None:
    if not token or len(token) > 100:
        return None
    row = db.execute("SELECT user, csrf, expires_at FROM web_sessions WHERE id_hash = ?", [_digest(token)]).fetchone()
    if row is None or row[2] < now:
        return None
    return Session(row[0], row[1], row[2])


def end_session(db: Database, token: str) -> None:
    db.execute("DELETE FROM web_sessions WHERE id_hash = ?", [_digest(token)])


def csrf_ok(expected: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(expected.encode(), str(presented).encode())


# --- failed logins ------------------------------------------------------------------------------


def failure_keys(user: str, address: str) -> tuple[str, str]:
    return f"user:{user}|{address}", f"addr:{address}"


def login_blocked(db: Database, user: str, address: str, now: float, allowed: int) -> float | None:
    """Seconds until another try is allowed, or None when ``user`` may try from ``address`` now."""
    waits = []
    for key, limit in zip(failure_keys(user, address), (allowed, allowed * ADDRESS_FACTOR), strict=True):
        rows = db.execute(
            "SELECT at FROM web_login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
            [key, now - FAILURE_WINDOW, limit],
        ).fetchall()
        if len(rows) >= limit:
            waits.append(rows[-1][0] + FAILURE_WINDOW - now)
    return max(waits) if waits else None


def record_failure(db: Database, user: str, address: str, now: float) -> None:
    db.execute("DELETE FROM web_login_failures WHERE at < ?", [now - FAILURE_WINDOW])
    for key in failure_keys(user, address):
        db.execute("INSERT INTO web_login_failures (key, at) VALUES (?, ?)", [key, now])


def clear_failures(db: Database, user: str, address: str) -> None:
    db.execute("DELETE FROM web_login_failures WHERE key = ?", [failure_keys(user, address)[0]])


def from_trusted_proxy(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in proxies)
