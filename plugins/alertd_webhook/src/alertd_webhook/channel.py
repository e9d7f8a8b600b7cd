"""The ``webhook`` channel: POST the notification to the URL a user gave as their webhook contact.

``body_template`` is rendered in alertd's bounded sandbox. With a JSON ``content_type``
(``application/json`` or ``*+json``) every ``{{ value }}`` is written as JSON: a string as
JSON-escaped text (so ``"{{ alert.title }}"`` stays one string whatever the title holds), a
number, boolean, null, list or dict as its JSON; ``| tojson`` output is kept as it is. The
result must parse as JSON, or the delivery fails with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import trio
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alertd.plugin import DeliveryResult, LongSecret, Notification, jsonlimits, post

if TYPE_CHECKING:  # imported on first use: httpx is a tenth of the daemon's start-up, and so is jinja2
    import httpx
    import jinja2

USER_AGENT = "alertd-webhook/0.1.0"
# A Retry-After longer than this is cut down: a page must not wait hours because a receiver asked.


class WebhookSettings(BaseModel):
    """``[channels.webhook]`` in alertd.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    # When set: X-Alertd-Timestamp and X-Alertd-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">.
    secret: LongSecret | None = None  # at least 32 characters
    # A Jinja2 template for the body (sandboxed); variables: notification, alert, links.
    body_template: str | None = None
    content_type: str = Field("application/json", min_length=1, max_length=200)
    timeout: float = Field(10, gt=0, le=60)
    concurrency: int = Field(8, ge=1, le=64)
    # When set, only URLs on these hosts are called (exact host names, case-insensitive).
    allowed_hosts: list[str] | None = None

    @field_validator("body_template")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            import jinja2

            try:
                compile_template(value)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueError(
                    f"expected a Jinja2 template; line {exc.lineno}: {str(exc.message).rstrip('.')}"
                ) from None
        return value

    @field_validator("content_type")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("expected a media type such as application/json")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _lower(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [host.strip().lower().rstrip(".") for host in value]


# A body is at most this long, rendered within this time (a template that loops over the alert's
# fields must not hold a worker for long, nor build a giant request).
BODY_MAX_CHARS = 1024 * 1024
BODY_SECONDS = 2.0


def _json_value(value: Any) -> Any:
    """What ``{{ value }}`` writes into a JSON body: data can never close a string or add a key."""
    if isinstance(value, Markup):  # | tojson (already JSON) or an explicit | safe
        return value
    if value is None or isinstance(value, bool | int | float | dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


@cache
def _environments() -> tuple[Any, Any]:
    """The plain and JSON sandboxes, made by the first body template."""
    import jinja2

    from alertd.plugin import sandbox

    plain = sandbox.BoundedSandbox(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    as_json = sandbox.BoundedSandbox(
        autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_json_value
    )
    return plain, as_json


def _template_error(exc: BaseException) -> bool:
    """A jinja2 error (the sandbox's too); jinja2 not loaded: no template ran, so none is."""
    jinja2 = sys.modules.get("jinja2")
    return jinja2 is not None and isinstance(exc, jinja2.TemplateError)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@lru_cache(maxsize=32)
def compile_template(source: str, json_body: bool = False) -> jinja2.Template:
    plain, as_json = _environments()
    return (as_json if json_body else plain).from_string(source)


def default_payload(notification: Notification) -> dict[str, Any]:
    alert = notification.alert
    keys = ("status", "title", "description", "severity", "url", "tags", "fields", "integration", "source_id")
    created = alert.get("created_at")
    return {
        "version": 1,
        "purpose": notification.purpose,
        "subject": notification.subject,
        # None for a notice about no alert (a handoff notice: its text is "message").
        "alert": None
        if notification.alert_id is None
        else {
            "id": notification.alert_id,
            **{key: alert.get(key) for key in keys},
            "created_at": created,
            "created_at_iso": (
                datetime.fromtimestamp(created, UTC).isoformat() if isinstance(created, int | float) else None
            ),
        },
        "message": notification.message,
        "user": {"name": notification.user, "full_name": notification.user_name},
        "links": dict(notification.links),
        "notification": {
            "id": notification.id,
            "step": notification.step,
            "attempt": notification.attempt,
            "idempotency_key": notification.idempotency_key,
        },
    }


class BodyError(Exception):
    """The body template rendered, but not to what content_type promises."""


def render_body(notification: Notification, settings: WebhookSettings) -> bytes:
    """Raises jinja2.TemplateError (including sandbox SecurityError and an overrun budget) for a
    template that cannot render, BodyError for a JSON content type whose body is not JSON."""
    if settings.body_template is None:
        return json.dumps(default_payload(notification), default=str, ensure_ascii=False).encode()
    json_body = is_json(settings.content_type)
    template = compile_template(settings.body_template, json_body)
    variables = {"notification": notification, "alert": notification.alert, "links": dict(notification.links)}
    from alertd.plugin import sandbox

    text = sandbox.render(template, variables, seconds=BODY_SECONDS, max_chars=BODY_MAX_CHARS)
    if json_body:
        try:
            jsonlimits.loads(text)  # bounded depth: json.loads alone recurses once per level
        except ValueError as exc:
            raise BodyError(f"not valid JSON for content_type {settings.content_type}: {exc}") from None
    return text.encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Alertd-Signature value: HMAC-SHA256 over ``{X-Alertd-Timestamp}.{raw body}``. Receivers
    recompute it, compare in constant time, and refuse old timestamps (so a captured request
    cannot be replayed later)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_url(address: str, allowed_hosts: list[str] | None) -> tuple[httpx.URL | None, str | None]:
    import httpx

    try:
        url = httpx.URL(address.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return None, f"not a URL: {exc}"
    if url.scheme not in ("http", "https") or not url.host:
        return None, "expected an http:// or https:// URL"
    host = url.host.lower().rstrip(".")
    if allowed_hosts is not None and host not in allowed_hosts:
        return None, f"host {host!r} is not in allowed_hosts"
    return url, None


class WebhookChannel:
    name = "webhook"
    kinds = ("webhook",)
    config_model = WebhookSettings
    # A `concurrency` key in [channels.webhook] takes precedence.
    concurrency = WebhookSettings.model_fields["concurrency"].default

    async def send(self, notification: Notification, settings: WebhookSettings, runtime: Any) -> DeliveryResult:
        url, problem = check_url(notification.address, settings.allowed_hosts)
        if url is None:
            return DeliveryResult("failed", error=problem)
        try:
            # A worker thread: a template working through its budget does not hold the event loop.
            body = await trio.to_thread.run_sync(render_body, notification, settings)
        except Exception as exc:
            if not (isinstance(exc, BodyError) or _template_error(exc)):
                raise
            return DeliveryResult("failed", error=f"body_template: {type(exc).__name__}: {exc}")
        headers = {
            "Content-Type": settings.content_type,
            "User-Agent": USER_AGENT,
            "Idempotency-Key": notification.idempotency_key,
        }
        if settings.secret is not None:
            timestamp = str(int(time.time()))
            headers["X-Alertd-Timestamp"] = timestamp
            headers["X-Alertd-Signature"] = signature(settings.secret.get_secret_value(), timestamp, body)
        return await post(
            url,
            content=body,
            headers=headers,
            timeout=settings.timeout,
            who=url.host,
            provider_id=lambda response: response.headers.get("X-Request-Id") or None,
        )
