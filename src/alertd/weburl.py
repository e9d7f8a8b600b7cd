"""Which links alertd passes on to a person: http(s) only.

A rule's ``url`` is rendered from message data, and it ends up as an email href and an ntfy
click action. Anything but an absolute http(s) URL (``javascript:``, ``data:``, ``file:``) is
dropped with a reason, at the mapping step and again at each channel's edge.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
# One C-speed search, not a Python loop per character (this runs for every alert opened).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_http_url(text: str) -> tuple[str, str | None]:
    """(the URL, None) when it is an absolute http(s) URL; ("", why not) otherwise."""
    url = text.strip()
    if not url:
        return "", None
    shown = url[:40] + ("..." if len(url) > 40 else "")
    # Browsers ignore tabs and newlines inside a URL ("java\tscript:"): refuse any control character.
    if _CONTROL.search(url):
        return "", f"expected an http:// or https:// URL, got {shown!r} (control characters)"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return "", f"expected an http:// or https:// URL, got {shown!r} ({exc})"
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        return "", f"expected an http:// or https:// URL, got {shown!r}"
    return url, None


def safe_link(value: object) -> str:
    """The link to show a person, or "" when there is none or it is not http(s)."""
    if not value:
        return ""
    return check_http_url(str(value))[0]
