"""The ``ntfy`` channel: publish to an ntfy topic (https://ntfy.sh or a self-hosted server) as JSON.

ntfy's JSON publishing: ``POST <server>/`` with ``{"topic", "title", "message", "priority", "tags",
"click", "actions"}``. Alerts carry two ``http`` action buttons that POST to the signed acknowledge and
close links (the ntfy app makes the request itself, so alertd's public URL must be reachable from
the phone), and a ``view`` button to the alert's URL when it has one. Tapping the notification
(``click``) opens the alert's console page when ``server.public_url`` is set and the console is
on, else the alert's URL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alertd.plugin import DeliveryResult, Notification, post, safe_link

if TYPE_CHECKING:  # imported on first use: httpx is a tenth of the daemon's start-up
    import httpx

USER_AGENT = "alertd-ntfy/0.1.0"
TOPIC_RE = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
# ntfy turns messages above 4096 bytes into attachments; stay below.
MAX_MESSAGE_CHARS = 3500
SEVERITY_TAGS = {"critical": "rotating_light", "error": "rotating_light", "warning": "warning"}

Priority = Annotated[int, Field(ge=1, le=5)]


class NtfySettings(BaseModel):
    """``[channels.ntfy]`` in alertd.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    server: str = Field("https://ntfy.sh", pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    # An ntfy access token (tk_...), sent as "Authorization: Bearer" to `server` only.
    token: SecretStr | None = None
    # Alert severity -> ntfy priority (5 = max/urgent, 4 = high, 3 = default, 2 = low, 1 = min).
    priorities: dict[str, Priority] = {"critical": 5, "warning": 4}
    default_priority: Priority = 3
    closed_priority: Priority = 2
    timeout: float = Field(10, gt=0, le=60)
    concurrency: int = Field(8, ge=1, le=64)

    @field_validator("server")
    @classmethod
    def _normalise(cls, value: str) -> str:
        import httpx

        try:
            return str(httpx.URL(value).copy_with(query=None, fragment=None)).rstrip("/")
        except (httpx.InvalidURL, ValueError) as exc:
            raise ValueError(f"expected a URL such as https://ntfy.example.com: {exc}") from None

    @field_validator("priorities")
    @classmethod
    def _lower(cls, value: dict[str, int]) -> dict[str, int]:
        return {key.lower(): prio for key, prio in value.items()}

    def priority(self, notification: Notification) -> int:
        if notification.purpose != "alert":
            return self.closed_priority
        severity = str(notification.alert.get("severity") or "").lower()
        return self.priorities.get(severity, self.default_priority)


def resolve_topic(address: str, server: str) -> tuple[str, str] | str:
    """(server, topic) for a topic name or a full topic URL; an error text when it is neither."""
    address = address.strip()
    if TOPIC_RE.match(address):
        return server, address
    if not re.match(r"^https?://", address):
        return "expected an ntfy topic name (letters, digits, - and _) or a topic URL such as https://ntfy.sh/mytopic"
    import httpx

    try:
        url = httpx.URL(address)
    except (httpx.InvalidURL, ValueError) as exc:
        return f"not a topic URL: {exc}"
    base, _, topic = url.path.rstrip("/").rpartition("/")
    if not url.host or not TOPIC_RE.match(topic) or url.query or url.fragment:
        return "expected a topic URL such as https://ntfy.sh/mytopic"
    return str(url.copy_with(path=base or "/", query=None, fragment=None)).rstrip("/"), topic


def _message(notification: Notification) -> str:
    resolved = ["Resolved: this alert has been closed."] if notification.purpose == "closed" else []
    lines = resolved + notification.detail_lines()
    text = "\n".join(lines) or str(notification.alert.get("title") or notification.subject)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _tags(notification: Notification) -> list[str]:
    if notification.purpose == "closed":
        first = "white_check_mark"
    else:
        first = SEVERITY_TAGS.get(str(notification.alert.get("severity") or "").lower(), "bell")
    extra = [str(t) for t in notification.alert.get("tags") or [] if str(t).strip()]
    return [first, *extra[:5]]


def _actions(notification: Notification) -> list[dict[str, Any]]:
    if notification.purpose != "alert":
        return []
    actions: list[dict[str, Any]] = [
        {"action": "http", "label": label, "url": notification.links[key], "method": "POST", "clear": True}
        for key, label in (("ack", "Acknowledge"), ("close", "Close"))
        if notification.links.get(key)
    ]
    url = safe_link(notification.alert.get("url"))  # http(s) only: a view action opens it
    if url:
        actions.append({"action": "view", "label": "Open", "url": url})
    return actions[:3]  # ntfy allows at most three


def publish_body(notification: Notification, topic: str, settings: NtfySettings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "topic": topic,
        "title": " ".join(notification.subject.split()),
        "message": _message(notification),
        "priority": settings.priority(notification),
        "tags": _tags(notification),
    }
    # Tapping the notification opens the alert in the console when it is reachable, else the source.
    # A workflow's notice opens the alert it is about.
    click = (
        notification.alert_link
        if notification.is_notice
        else notification.console_url or safe_link(notification.alert.get("url"))
    )
    if click:
        body["click"] = click
    actions = _actions(notification)
    if actions:
        body["actions"] = actions
    return body


def _provider_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data["id"]) if isinstance(data, dict) and data.get("id") else None


class NtfyChannel:
    name = "ntfy"
    kinds = ("push",)
    config_model = NtfySettings
    # A `concurrency` key in [channels.ntfy] takes precedence.
    concurrency = NtfySettings.model_fields["concurrency"].default

    async def send(self, notification: Notification, settings: NtfySettings, runtime: Any) -> DeliveryResult:
        resolved = resolve_topic(notification.address, settings.server)
        if isinstance(resolved, str):
            return DeliveryResult("failed", error=resolved)
        server, topic = resolved
        headers = {"User-Agent": USER_AGENT, "Idempotency-Key": notification.idempotency_key}
        # The token belongs to the configured server: never hand it to a server named in an address.
        if settings.token is not None and server == settings.server:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        import httpx

        url = httpx.URL(server + "/")
        host = url.host
        body = publish_body(notification, topic, settings)
        timeout = settings.timeout
        return await post(
            url, json=body, headers=headers, timeout=timeout, who=f"ntfy at {host}", provider_id=_provider_id
        )
