"""The default ruleset of the webhook inbound type (same syntax as [integrations.NAME.rules]).

The common shape of a monitoring webhook, as Grafana OnCall's and PagerDuty's generic
integrations take it: ``{"id" | "dedup_key", "status", "title", "description", "severity", "url"}``.
"""

from __future__ import annotations

from typing import Any

FIRING = ["firing", "trigger", "triggered", "open", "alerting", "problem", "alert"]
RESOLVED = ["resolved", "resolve", "ok", "close", "closed", "recovered"]
ACKNOWLEDGED = ["acknowledged", "acknowledge", "ack"]

# One alert per dedup key (else id, else title); a message without a status opens (or appends).
GENERIC: dict[str, Any] = {
    "source_id": "{{ dedup_key or id or title }}",
    "open_when": {
        "any": [
            {"field": "status", "equals": FIRING, "ignore_case": True},
            {"field": "status", "exists": False},
        ]
    },
    "close_when": {"field": "status", "equals": RESOLVED, "ignore_case": True},
    "ack_when": {"field": "status", "equals": ACKNOWLEDGED, "ignore_case": True},
    "title": "{{ title or summary or source_id }}",
    "description": "{{ description or message or '' }}",
    "severity": "{{ severity or 'critical' }}",
    "url": "{{ url or link or '' }}",
    "tags": ["webhook"],
}

RULESETS: dict[str, dict[str, Any]] = {"generic": GENERIC}
DEFAULT_RULESET = "generic"
