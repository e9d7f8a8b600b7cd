"""Sending a workflow's webhook: one outbox row (its body rendered when queued), POSTed and signed
like the webhook channel: ``X-Alertd-Timestamp`` and ``X-Alertd-Signature: sha256=<hex
HMAC-SHA256 of "{timestamp}.{body}">`` with the action's ``secret``, else ``[channels.webhook]``'s.
Retries, backoff and the final failure are the outbox's, as for any notification."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any

from alertd.channels import DeliveryResult

if TYPE_CHECKING:
    from alertd.config import Config

USER_AGENT = "alertd-workflow/1"
TIMEOUT_SECONDS = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def secret_for(config: Config, step: str) -> str | None:
    """The signing secret of the action a row came from (``step`` = ``<workflow>:<index>``)."""
    name, _, index = step.rpartition(":")
    workflow = config.raw.workflows.get(name)
    if workflow is not None and index.isdigit() and int(index) < len(workflow.actions):
        secret = workflow.actions[int(index)].secret
        if secret is not None:
            return secret.get_secret_value()
    channel = config.channels.get("webhook")
    channel_secret = getattr(channel[1], "secret", None) if channel else None
    return channel_secret.get_secret_value() if channel_secret is not None else None


async def send(config: Config, row: dict[str, Any]) -> DeliveryResult:
    import httpx

    from alertd.http_delivery import post

    try:
        url = httpx.URL(row["address"])
    except (httpx.InvalidURL, ValueError) as exc:
        return DeliveryResult("failed", error=f"not a URL: {exc}")
    body = (row.get("payload") or "{}").encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": row["idempotency_key"],
    }
    secret = secret_for(config, row["step"])
    if secret is not None:
        timestamp = str(int(time.time()))
        headers["X-Alertd-Timestamp"] = timestamp
        headers["X-Alertd-Signature"] = signature(secret, timestamp, body)
    return await post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS, who=url.host or "webhook")
