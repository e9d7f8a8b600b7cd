"""Outbound HTTP for channel plugins: one POST with a deadline, its answer as a DeliveryResult.

Shared by the ntfy and webhook channels and available to any plugin that delivers over HTTP:
2xx is sent; 408, 429 and 5xx (and network errors, timeouts) are passing, honouring
Retry-After (capped); redirects are not followed (they could lead past a host allow-list);
every other answer is permanent.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from alertd.channels import DeliveryResult
from alertd.log import error_with_cause

if TYPE_CHECKING:  # httpx (and the rich console its package imports: 60 ms) loads on first use
    import httpx

# A receiver may ask us to wait, but not to hold a page for hours.
MAX_RETRY_AFTER = 600.0

_SSL: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """One verifying context for all sends (building one per request loads the CA bundle again)."""
    global _SSL
    if _SSL is None:
        import httpx

        _SSL = httpx.create_ssl_context()
    return _SSL


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped; None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime  # (the email package: not on every start's way)

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) or None


def classify(
    response: httpx.Response, who: str, provider_id: Callable[[httpx.Response], str | None] = lambda r: None
) -> DeliveryResult:
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult("sent", provider_id=provider_id(response))
    text = " ".join(response.text.split())[:200]
    error = f"{who} answered HTTP {status}" + (f": {text}" if text else "")
    if status in (408, 429) or status >= 500:
        return DeliveryResult("retry", error=error, retry_after=retry_after(response))
    if 300 <= status < 400:
        return DeliveryResult("failed", error=f"{who} answered HTTP {status} (redirects are not followed)")
    return DeliveryResult("failed", error=error)


async def post(
    url: httpx.URL,
    *,
    content: bytes | None = None,
    json: object = None,
    headers: dict[str, str],
    timeout: float,
    who: str,
    provider_id: Callable[[httpx.Response], str | None] = lambda r: None,
) -> DeliveryResult:
    """POST and classify the answer; the whole exchange has one deadline (``timeout``)."""
    import httpx

    try:
        with trio.move_on_after(timeout):
            async with httpx.AsyncClient(timeout=timeout, verify=ssl_context(), follow_redirects=False) as client:
                response = await client.post(url, content=content, json=json, headers=headers)
                await response.aread()
                return classify(response, who, provider_id)
        return DeliveryResult("retry", error=f"no answer from {who} within {timeout:g}s")
    except httpx.TimeoutException:
        return DeliveryResult("retry", error=f"no answer from {who} within {timeout:g}s")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return DeliveryResult("failed", error=f"cannot call {who}: {exc}")
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS
        return DeliveryResult("retry", error=f"cannot reach {who}: {error_with_cause(exc)}")
