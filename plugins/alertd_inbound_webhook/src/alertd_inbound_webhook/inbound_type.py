"""The ``webhook`` inbound type: any system that can POST JSON to an integration URL.

Checks, in order: the bearer token (``bearer_token``: ``Authorization: Bearer ...``), the
HMAC signature (``secret``: header ``X-Signature-256: sha256=<hex>`` over the raw body, or
over ``<timestamp>.<body>`` when ``timestamp_header`` is set, which must then be within
``tolerance_seconds`` of now), then that the body is a JSON object within the nesting bound.
Secrets compare in constant time. The body goes to the mapper as it is (``status``,
``labels^severity``, ``data^0^id``); a delivery id header, when the sender sets one, makes
redeliveries ``Duplicate Delivery``.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alertd.plugin import InboundMessage, InboundRequest, LongSecret, Rejection, jsonlimits
from alertd_inbound_webhook.rulesets import DEFAULT_RULESET, RULESETS
from alertd_inbound_webhook.signing import signature_matches, timestamp_problem

if TYPE_CHECKING:
    from alertd.plugin import Integration, Runtime

HEADER_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
MAX_DELIVERY_ID_CHARS = 200
MESSAGE_TYPE = "webhook"


class WebhookOptions(BaseModel):
    """``[integrations.NAME.options]`` of a webhook integration."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    secret: LongSecret | None = None
    signature_header: str = Field("X-Signature-256", pattern=HEADER_NAME, max_length=64)
    timestamp_header: str | None = Field(None, pattern=HEADER_NAME, max_length=64)
    tolerance_seconds: int = Field(300, ge=1, le=86_400)
    bearer_token: SecretStr | None = None
    # "" ignores delivery ids (every request counts).
    delivery_id_header: str = Field("X-Delivery-Id", pattern=r"^([A-Za-z0-9][A-Za-z0-9-]*)?$", max_length=64)

    @field_validator("bearer_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 16 <= len(value.get_secret_value()) <= 256:
            raise ValueError("expected a bearer token of 16 to 256 characters")
        return value

    @model_validator(mode="after")
    def _timestamp_needs_secret(self) -> WebhookOptions:
        if self.timestamp_header and self.secret is None:
            raise ValueError("expected secret to be set with timestamp_header (the timestamp is signed)")
        return self


def bearer_matches(header: str, token: SecretStr) -> bool:
    scheme, _, given = header.strip().partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)


def check_auth(request: InboundRequest, options: WebhookOptions, now: float) -> Rejection | None:
    """The request's credentials against the integration's, or the reason they fail."""
    if options.bearer_token is not None:
        header = request.header("authorization")
        if not header:
            return Rejection(401, "missing Authorization: Bearer header", message_type=MESSAGE_TYPE)
        if not bearer_matches(header, options.bearer_token):
            return Rejection(403, "bearer token does not match", message_type=MESSAGE_TYPE)
    if options.secret is not None:
        name = options.signature_header
        signature = request.header(name)
        if not signature:
            return Rejection(401, f"missing {name} header (HMAC-SHA256 signature)", message_type=MESSAGE_TYPE)
        timestamp = None
        if options.timestamp_header:
            timestamp = request.header(options.timestamp_header)
            problem = timestamp_problem(timestamp, now, options.tolerance_seconds)
            if problem:
                return Rejection(403, f"{options.timestamp_header} header {problem}", message_type=MESSAGE_TYPE)
        key = options.secret.get_secret_value().encode()
        if not signature_matches(key, request.body, signature, timestamp):
            return Rejection(403, f"{name} signature does not match the body", message_type=MESSAGE_TYPE)
    return None


def unwrap(request: InboundRequest, options: WebhookOptions) -> InboundMessage | Rejection:
    """The body as the mapper's document, with the delivery id if the sender gave one."""
    delivery_id = None
    if options.delivery_id_header:
        delivery_id = request.header(options.delivery_id_header).strip() or None
        if delivery_id is not None and (len(delivery_id) > MAX_DELIVERY_ID_CHARS or not delivery_id.isprintable()):
            return Rejection(
                400,
                f"{options.delivery_id_header} header is not a delivery id "
                f"(printable, at most {MAX_DELIVERY_ID_CHARS} characters)",
                message_type=MESSAGE_TYPE,
            )
    try:
        body = jsonlimits.loads(request.body)
    except jsonlimits.JSONTooDeep as exc:
        return Rejection(400, f"body is not acceptable JSON: {exc}", message_type=MESSAGE_TYPE)
    except (ValueError, UnicodeDecodeError):
        return Rejection(400, "body is not JSON", message_type=MESSAGE_TYPE)
    if not isinstance(body, dict):
        return Rejection(
            400, f"body is JSON but not an object (found {type(body).__name__})", message_type=MESSAGE_TYPE
        )
    return InboundMessage(message_type=MESSAGE_TYPE, document=body, source_message_id=delivery_id)


class WebhookInboundType:
    name = "webhook"
    options_model = WebhookOptions
    settings_model = None
    rulesets = RULESETS
    default_ruleset = DEFAULT_RULESET

    async def handle(
        self, request: InboundRequest, integration: Integration, runtime: Runtime
    ) -> InboundMessage | Rejection:
        options: WebhookOptions = integration.options  # type: ignore[assignment]
        refused = check_auth(request, options, runtime.clock.now())
        return refused if refused is not None else unwrap(request, options)

    def sample_message(self, data: bytes, integration: Integration) -> InboundMessage | Rejection:
        """A dry-run message from a plain body or a sample file (``{"headers": ..., "body": ...}``);
        credentials are not checked."""
        return unwrap(sample_request(data), integration.options)  # type: ignore[arg-type]


def sample_request(data: bytes) -> InboundRequest:
    headers: dict[str, str] = {}
    body = data
    try:
        parsed: Any = jsonlimits.loads(data)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if isinstance(parsed, dict) and set(parsed) == {"headers", "body"} and isinstance(parsed["headers"], dict):
        headers = {str(k).lower(): str(v) for k, v in parsed["headers"].items()}
        inner = parsed["body"]
        body = (inner if isinstance(inner, str) else json.dumps(inner)).encode()
    return InboundRequest(
        method="POST", path="/in/{token}", headers=headers, body=body, remote_addr="dry-run", received_at=time.time()
    )
