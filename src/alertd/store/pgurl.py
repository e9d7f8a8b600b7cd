"""PostgreSQL connection URLs: what ``[store] url`` accepts, and how one is shown (password hidden).

Leaf module (no psycopg): the config check and the CLI use it without loading the driver.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
MAX_URL_CHARS = 2048


def postgresql_url_problem(url: str) -> str | None:
    """Why ``url`` is not a PostgreSQL URL alertd can use, or None. Never quotes the URL (it may hold a password)."""
    if len(url) > MAX_URL_CHARS:
        return f"a postgresql:// URL of at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        return "a postgresql://user@host:port/database URL (the port must be a number of 1 to 65535)"
    if parts.scheme not in SCHEMES:
        return "a URL starting with postgresql:// (postgresql://user@host:port/database)"
    if not parts.path.strip("/"):
        return "a postgresql:// URL naming its database (postgresql://user@host:port/database)"
    return None


def redacted(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: for logs and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparsable URL)"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
