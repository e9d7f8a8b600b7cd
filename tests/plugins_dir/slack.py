"""A third-party-style channel for tests: contact kind ``slack``, which alertd's core has never heard of.

Loaded through ``plugins_dir`` and written like a plugin outside this repository: it imports only
``alertd.plugin``. A user's ``contact = { slack = "@sam" }`` becomes valid because this channel
declares the kind; it posts ``{"channel": <address>, "text": ...}`` to ``[channels.slack] webhook_url``
(a Slack incoming webhook; in the tests a local HTTP server).
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field

from alertd.plugin import DeliveryResult, Notification, hookimpl, post, safe_link

__version__ = "1.0"


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str = Field(pattern=r"^https?://[^/\s]+(/[^\s]*)?$", max_length=2048)
    timeout: float = Field(10, gt=0, le=60)


class SlackChannel:
    name = "slack"
    kinds = ("slack",)
    config_model = SlackSettings
    concurrency = 4

    async def send(self, notification: Notification, settings: SlackSettings, runtime: object) -> DeliveryResult:
        lines = [notification.subject, *notification.detail_lines()]
        ack = safe_link(notification.links.get("ack"))
        if ack and notification.purpose == "alert":
            lines.append(f"Acknowledge: {ack}")
        body = {"channel": notification.address, "text": "\n".join(lines), "alert_id": notification.alert_id}
        return await post(
            httpx.URL(settings.webhook_url),
            json=body,
            headers={"Idempotency-Key": notification.idempotency_key},
            timeout=settings.timeout,
            who="Slack",
        )


@hookimpl
def alertd_channels() -> list[object]:
    return [SlackChannel()]
