"""The ``apprise`` channel: the contact address is an Apprise URL (``ntfys://topic``, ``json://host/path``,
``pover://user@token``, ``mailto://...``); Apprise (blocking, requests-based) runs in a worker thread."""

from __future__ import annotations

from typing import Any

import trio
from pydantic import BaseModel, ConfigDict, Field

from alertd.plugin import DeliveryResult, Notification, safe_link

MAX_ERROR_CHARS = 500


class AppriseSettings(BaseModel):
    """``[channels.apprise]`` in alertd.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    # Seconds for the whole notify() call (Apprise reports unfinished services as timed out).
    timeout: float = Field(15, gt=0, le=60)
    concurrency: int = Field(4, ge=1, le=64)
    # Cut titles to this many characters (services have their own limits too).
    title_maxlen: int | None = Field(None, ge=1)


def title_for(notification: Notification, settings: AppriseSettings) -> str:
    title = " ".join(notification.subject.split())
    limit = settings.title_maxlen
    if limit is not None and len(title) > limit:
        title = title[: limit - 1] + "…" if limit > 1 else title[:limit]
    return title


def body_for(notification: Notification) -> str:
    alert = notification.alert
    if notification.is_notice and notification.alert_id is not None:
        return "\n".join(notification.notice_lines())  # the workflow's message, then the alert's link
    lines: list[str] = []
    if notification.purpose == "closed":
        lines.append("Resolved: this alert has been closed. No action is needed.")
    else:
        # A notice about no alert (a handoff) has its message's first line as its title.
        first = notification.subject if notification.alert_id is None else f"Alert #{notification.alert_id}"
        lines.append(str(alert.get("title") or first))
    lines += notification.detail_lines()
    link = safe_link(alert.get("url"))  # http(s) only, also for alerts stored before urls were checked
    if link:
        lines.append(f"More: {link}")
    if notification.purpose == "alert":
        for key, label in (("ack", "Acknowledge"), ("close", "Close")):
            if notification.links.get(key):
                lines.append(f"{label}: {notification.links[key]}")
    return "\n".join(lines)


def notify_type_for(notification: Notification) -> str:
    if notification.purpose == "closed":
        return "success"
    severity = str(notification.alert.get("severity") or "").lower()
    return {"critical": "failure", "error": "failure", "warning": "warning"}.get(severity, "info")


def notify_blocking(address: str, title: str, body: str, notify_type: str, timeout: float) -> DeliveryResult:
    """One Apprise call (in a worker thread). Apprise is imported here: loading it is not free,
    and `alertd check-config` or a daemon without this channel configured need not pay for it."""
    import apprise

    # Memory-only persistent store: nothing written under the daemon user's home.
    asset = apprise.AppriseAsset(storage_mode="memory", service_timeout=timeout, secure_logging=True)
    client = apprise.Apprise(asset=asset)
    if not client.add(address):
        return DeliveryResult("failed", error="not a usable Apprise URL (unknown scheme or missing parts)")
    service = client[0].url(privacy=True)  # secrets masked
    result = client.notify(
        body=body,
        title=title,
        notify_type=apprise.NotifyType(notify_type),
        body_format=apprise.NotifyFormat.TEXT,
        timeout=timeout,
    )
    try:
        if result:
            return DeliveryResult("sent")
        messages = [entry.message for entry in result.logs() if getattr(entry, "message", None)]
        detail = "; ".join(dict.fromkeys(messages)) or "no detail"
        error = f"{service}: {result.status.name.lower()}: {detail}"
        return DeliveryResult("retry", error=error[:MAX_ERROR_CHARS])
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


class AppriseChannel:
    name = "apprise"
    kinds = ("push",)
    config_model = AppriseSettings
    # A `concurrency` key in [channels.apprise] takes precedence (the outbox reads it per send).
    concurrency = AppriseSettings.model_fields["concurrency"].default

    async def send(self, notification: Notification, settings: AppriseSettings, runtime: Any) -> DeliveryResult:
        address = notification.address.strip()
        if "://" not in address:
            return DeliveryResult("failed", error="expected an Apprise URL such as ntfys://topic or json://host/path")
        return await trio.to_thread.run_sync(
            notify_blocking,
            address,
            title_for(notification, settings),
            body_for(notification),
            notify_type_for(notification),
            settings.timeout,
        )
