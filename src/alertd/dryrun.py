"""Dry runs: what would a message do to an integration, without touching the database.

Used by ``alertd test-integration NAME FILE`` and ``POST /api/v1/integrations/NAME/test``.
Signatures are not checked (samples carry placeholders); the rules are the point.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from alertd.config import Integration
from alertd.durations import words
from alertd.inbound import InboundBatch, InboundMessage, Rejection
from alertd.mapping import REJECTED, Document, OpenAlert, decide
from alertd.routing import choose


def dry_run(
    integration: Integration, data: bytes, assume: Literal["open", "acknowledged"] | None = None
) -> dict[str, Any]:
    """The decision for ``data`` (a sample file or a plain body). ``assume`` pretends an alert
    for the message's source id is already open (or acknowledged), to try append/ack/close rules."""
    result: dict[str, Any] = {
        "integration": integration.name,
        "ruleset": integration.ruleset_name,
        "assumed_alert": assume or "none open",
    }
    message = integration.inbound_type.sample_message(data, integration)
    if isinstance(message, Rejection):
        return {**result, "outcome": REJECTED, "status": message.status, "reason": message.reason}
    existing = None if assume is None else OpenAlert(id=0, status=assume)
    if isinstance(message, InboundBatch):
        # Several alerts in one request (Alertmanager): one decision each, as each gets its own row.
        parts = [_decide(integration, part, existing) for part in message.messages]
        first = parts[0] if parts else {"outcome": "nothing: no messages"}
        return {**result, **first, "messages": parts}
    return {**result, **_decide(integration, message, existing)}


def _decide(integration: Integration, message: InboundMessage, existing: OpenAlert | None) -> dict[str, Any]:
    out: dict[str, Any] = {"message_type": message.message_type, "source_message_id": message.source_message_id}
    if message.outcome is not None:
        return {**out, "outcome": message.outcome}
    decision = decide(Document(message.document), integration.ruleset, lambda _sid: existing, render_all=True)
    out = {**out, **decision.as_dict()}
    threshold = integration.ruleset.threshold
    if threshold is not None and decision.action == "open":
        # A dry run has no counts: say what the daemon does with this match.
        note = (
            f"threshold: the daemon counts this match; the alert opens when {threshold.count} matches fall "
            f"within {words(threshold.within_seconds)} (before that: Counted (k of {threshold.count}))"
        )
        out["reason"] = "; ".join(filter(None, [note, out["reason"]]))
    route = choose(integration.config, message.document, datetime.now(UTC))
    return {**out, "route": route.name, "escalation_policy": route.policy, "recipients": list(route.recipients)}
