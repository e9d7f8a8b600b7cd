"""What a person reads about one entity, built once for every reader (``alertd alerts show`` and
``GET /api/v1/alerts/<id>``), so the CLI and the API cannot drift apart. Reads only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd import alerts, escalation, outbox

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd.config import Config


def alert_detail(db: Database, alert_id: int) -> dict[str, Any] | None:
    """The alert row with its ``timeline`` (oldest first), escalation ``escalation`` plan (None when it
    has none) and ``notifications`` (outbox rows, oldest first); None when there is no such alert."""
    alert = alerts.get(db, alert_id)
    if alert is None:
        return None
    return {
        **alert,
        "timeline": alerts.timeline(db, alert_id),
        "escalation": escalation.plan(db, alert_id),
        "notifications": outbox.for_alert(db, alert_id),
    }


def integrations_overview(db: Database, config: Config, tokens: dict[str, str]) -> list[dict[str, Any]]:
    """Each configured integration: its URL, ruleset, policy, and its source's ``handshakes`` (each
    row with the ``label`` and ``text`` its inbound type shows it as: alertd.handshakes)."""
    from dataclasses import asdict

    from alertd import handshakes  # these three: not for alert_detail (`alertd alerts show`)
    from alertd.integrations import integration_url

    stored = handshakes.by_integration(db)
    out = []
    for name, integ in config.integrations.items():
        rows = []
        for row in stored.get(name, []):
            label, text = handshakes.describe(row, integ.inbound_type)
            item = asdict(row)
            del item["integration"]
            rows.append({**item, "label": label, "text": text})
        out.append(
            {
                "name": name,
                "type": integ.inbound_type.name,
                "url": integration_url(config, tokens[name]),
                "ruleset": integ.ruleset_name,
                "escalation_policy": integ.config.escalation_policy,
                "enabled": integ.config.enabled,
                "handshakes": rows,
            }
        )
    return out
