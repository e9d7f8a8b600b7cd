"""What a channel plugin receives and returns (see hookspecs.alertd_channels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from alertd.textout import local_time, visible, visible_block, zone_named

if TYPE_CHECKING:
    from pydantic import BaseModel

    from alertd.runtime import Runtime


@dataclass(frozen=True)
class Notification:
    """One attempt to reach one person on one contact method about one alert.

    ``purpose`` is ``alert`` (page someone) or ``closed`` (tell them it is over).
    ``links`` holds signed action URLs (``ack``, ``close``) for this user and alert,
    and ``view``, the alert in the API. ``console_url`` is the alert's console page when a
    person can open it (``[web]`` on and ``server.public_url`` set), else "". ``idempotency_key`` is the same on every
    retry of this notification: pass it to providers that deduplicate.
    """

    id: int
    # None: a notice about no alert (a schedule workflow's handoff notice; ``alert`` is empty).
    alert_id: int | None
    user: str
    user_name: str
    kind: str
    address: str
    purpose: str
    step: str
    idempotency_key: str
    attempt: int
    alert: dict[str, Any]
    links: dict[str, str] = field(default_factory=dict)
    public_url: str = ""
    # The recipient's zone (users.<name>.timezone): times in messages are shown in it.
    timezone: str = "UTC"
    # ``purpose`` "workflow": a workflow's notice with its own text (its first line is the subject).
    message: str = ""
    console_url: str = ""

    def local_time(self, ts: float) -> str:
        """``2026-11-25 13:05:07 EST (America/New_York)``: a time as the recipient reads it."""
        try:
            zone = zone_named(self.timezone)
        except ValueError:  # validated in the config; a hand-built notification may still carry junk
            zone = zone_named("UTC")
        text = local_time(ts, zone)
        key = getattr(zone, "key", "UTC")
        return text if text.endswith(f" {key}") else f"{text} ({key})"

    @property
    def subject(self) -> str:
        """A one-line summary fit for an SMS, a push title or an email subject."""
        alert = self.alert
        if self.message:
            return visible(self.message.strip().splitlines()[0] if self.message.strip() else "")[:500]
        prefix = "RESOLVED" if self.purpose == "closed" else str(alert.get("severity", "alert")).upper()
        return visible(f"[{prefix}] #{self.alert_id} {alert.get('title', '')}".strip())

    @property
    def is_notice(self) -> bool:
        """A workflow's notice: its text is ``message``, not the alert's facts (which the workflow's
        template chose from); ``alert_link`` points at the alert it is about, if any."""
        return self.purpose == "workflow" and bool(self.message.strip())

    @property
    def alert_link(self) -> str:
        """Where a person opens the alert: the console's page, else ``links["view"]``; "" for none."""
        if self.alert_id is None:
            return ""
        return self.console_url or self.links.get("view", "")

    def notice_lines(self) -> list[str]:
        """A notice's whole text as plain lines, then the alert it is about and its link."""
        lines = [visible_block(line) for line in self.message.strip().splitlines()]
        if self.alert_id is not None:
            link = self.alert_link
            lines.append(f"Alert #{self.alert_id}: {link}" if link else f"Alert #{self.alert_id}")
        return lines

    def detail_lines(self) -> list[str]:
        """The alert's description, source and fields as plain lines: the body of a short message
        (for a workflow's notice: the message's lines after the subject, and the alert's link).
        Control characters from the source are shown as escapes (a terminal may display it)."""
        alert = self.alert
        if self.is_notice:
            return self.notice_lines()[1:]
        lines: list[str] = [visible_block(line) for line in self.message.strip().splitlines()[1:]]
        description = str(alert.get("description") or "").strip()
        if description:
            lines.append(visible_block(description))
        source = " / ".join(visible(alert[k]) for k in ("integration", "source_id") if alert.get(k))
        if source:
            lines.append(f"Source: {source}")
        if isinstance(alert.get("created_at"), int | float):
            lines.append(f"Opened: {self.local_time(alert['created_at'])}")
        fields = alert.get("fields") or {}
        if isinstance(fields, dict):
            lines += [f"{visible(key)}: {visible(value)}" for key, value in fields.items()]
        return lines


@dataclass(frozen=True)
class DeliveryResult:
    """``sent``: the provider accepted it (``delivered`` if it confirmed delivery);
    ``retry``: a passing failure, try again later; ``failed``: give up on this
    contact method (the user's next one is tried)."""

    status: Literal["sent", "delivered", "retry", "failed"]
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


class DeliveryState(Enum):
    """What a provider's delivery report says, in words the core knows (the channel plugin
    translates its provider's own statuses into these, and owns that table).

    ``accepted``: on its way, nothing final (the report changes nothing);
    ``delivered``: it reached the person;
    ``failed``: it will not arrive (the user's next contact method is tried);
    ``unanswered``: a call nobody picked up (handled like ``failed``)."""

    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNANSWERED = "unanswered"

    @property
    def final(self) -> bool:
        return self is not DeliveryState.ACCEPTED


class Channel(Protocol):
    name: str
    kinds: tuple[str, ...]
    config_model: type[BaseModel] | None
    concurrency: int
    # Optional (True when absent): False for a channel that must not be used to say an alert
    # closed (a phone call at night to say all is well).
    closure_notices: bool

    async def send(self, notification: Notification, settings: Any, runtime: Runtime) -> DeliveryResult: ...
