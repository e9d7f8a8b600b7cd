"""Confirming an SNS subscription: GET its SubscribeURL, but only on the topic's SNS host."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from alertd.plugin import Store, error_with_cause, get_logger, inbound_log_entry, set_handshake_state
from alertd_aws_sns.signature import SignatureError, validate_sns_url_for_topic

log = get_logger("alertd.aws_sns")

ARN_RE = re.compile(r"<SubscriptionArn>([^<]+)</SubscriptionArn>")


class ConfirmError(Exception):
    pass


async def fetch_subscribe_url(url: str, topic: str, timeout: float = 10.0) -> str:
    """Confirm; return the subscription ARN. Refuses any host but the topic's SNS endpoint (SSRF)."""
    import httpx  # on first use: its import is a tenth of the daemon's start-up

    try:
        validate_sns_url_for_topic(url, topic)
    except SignatureError as exc:
        raise ConfirmError(f"refusing to fetch SubscribeURL: {exc.reason}") from None
    try:
        async with httpx.AsyncClient(trust_env=True, follow_redirects=False, timeout=timeout) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ConfirmError(f"fetching SubscribeURL failed: {error_with_cause(exc)}") from None
    if response.status_code != 200:
        raise ConfirmError(f"SNS answered {response.status_code} to the confirmation")
    match = ARN_RE.search(response.text)
    return match.group(1) if match else ""


async def confirm_and_record(
    store: Store, integration: str, envelope: dict[str, Any], now: Callable[[], float], via: str
) -> str:
    topic, url = envelope["TopicArn"], envelope["SubscribeURL"]
    try:
        arn = await fetch_subscribe_url(url, topic)
    except ConfirmError as exc:
        problem = str(exc)
        log.error("sns.confirm_failed", integration=integration, topic=topic, via=via, error=problem)
        await store.write(
            lambda db: set_handshake_state(db, integration, topic, "pending", now(), error=problem, via=via)
        )
        raise
    at = now()
    await store.write(
        lambda db: set_handshake_state(
            db, integration, topic, "confirmed", at, subscription_arn=arn, confirmed_at=at, error=None, via=via
        )
    )
    log.info("sns.confirmed", integration=integration, topic=topic, via=via, subscription_arn=arn)
    return arn


def load_confirmation(db: Any, config: Any, inbound_id: int) -> tuple[str, dict[str, Any]]:
    """The integration and envelope of a logged SubscriptionConfirmation; LookupError saying why not."""
    row = inbound_log_entry(db, inbound_id)
    if row is None:
        raise LookupError(f"no inbound message #{inbound_id}")
    if row["message_type"] != "SubscriptionConfirmation" or row["outcome"] != "Subscription Confirmation":
        raise LookupError(
            f"inbound #{inbound_id} is not an accepted SubscriptionConfirmation "
            f"({row['message_type']}, {row['outcome']})"
        )
    integration = config.integrations.get(row["integration"])
    if integration is None or integration.inbound_type.name != "aws_sns":
        raise LookupError(
            f"inbound #{inbound_id} belongs to {row['integration']!r}, not a configured aws_sns integration"
        )
    return row["integration"], json.loads(row["body"])
