"""The ``aws_sns`` inbound type: Amazon SNS HTTPS deliveries to an integration URL.

Checks, in order: the body is a JSON object of SNS's shape; the header
``x-amz-sns-message-type`` agrees with the body's ``Type``; the topic is allowed;
the timestamp is not stale; the signing certificate URL is on an SNS host of the
topic's region; the certificate is at hand (cache or fetch); the signature
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) verifies. Then:

- ``Notification``: the envelope goes to the mapper (``Message^...`` paths reach
  into the JSON in ``Message``); the MessageId makes redeliveries duplicates.
- ``SubscriptionConfirmation``: logged as Subscription Confirmation; confirmed by
  ``alertd sns confirm INBOUND_ID``, the API, or automatically (``auto_confirm``).
- ``UnsubscribeConfirmation``: logged; the subscription is marked unsubscribed.

Raw message delivery (no envelope, so no signature) is refused unless the
integration sets ``allow_raw_delivery = true``; then the secret URL is the only
proof of origin, and the body is wrapped in an envelope-like document so that
the same rulesets apply.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alertd.plugin import (
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    Handshake,
    HandshakeRow,
    InboundMessage,
    InboundRequest,
    Rejection,
    get_logger,
    jsonlimits,
)
from alertd_aws_sns.rulesets import DEFAULT_RULESET, RULESETS
from alertd_aws_sns.signature import (
    CertificateCache,
    CertificateUnavailable,
    SignatureError,
    _crypto,
    cert_url_problem,
    topic_region,
    verify_signature,
)

if TYPE_CHECKING:
    from alertd.plugin import Integration, Runtime

log = get_logger("alertd.aws_sns")

TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
COMMON_FIELDS = (
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
)
REQUIRED = {
    "Notification": COMMON_FIELDS,
    "SubscriptionConfirmation": (*COMMON_FIELDS, "Token", "SubscribeURL"),
    "UnsubscribeConfirmation": (*COMMON_FIELDS, "Token", "SubscribeURL"),
}
# SNS's own clock and ours may disagree a little.
FUTURE_SKEW_SECONDS = 15 * 60


class SnsOptions(BaseModel):
    """``[integrations.NAME.options]`` of an aws_sns integration."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    topic_arns: list[str] = Field(default_factory=list, description="allow-list; empty allows any topic")
    auto_confirm: bool = False
    allow_raw_delivery: bool = False
    max_age_hours: float | None = Field(168, gt=0)

    @model_validator(mode="after")
    def _auto_confirm_needs_topics(self) -> SnsOptions:
        if self.auto_confirm and not self.topic_arns:
            raise ValueError("expected topic_arns to list the topics to confirm when auto_confirm = true")
        for arn in self.topic_arns:
            if topic_region(arn) is None:
                raise ValueError(f"expected SNS topic ARNs like arn:aws:sns:us-east-1:123456789012:name; found {arn!r}")
        return self


class SnsSettings(BaseModel):
    """``[inbound.aws_sns]``: settings shared by every aws_sns integration."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    cert_cache_dir: Path = Path("var/sns-certs")
    fetch_timeout: float = Field(5.0, gt=0, le=60)


def _too_deep_field(envelope: dict[str, Any]) -> str:
    """Why a string field holding JSON (``Message``) nests too deep for the mapper, or ''.

    The mapper parses such fields on demand (``Message^...``); refuse them here, as bad
    input, rather than fail there."""
    for key, value in envelope.items():
        if type(value) is not str:
            continue
        first = value[:1]
        if first.isspace():  # (rare: a copy of the string only then)
            first = value.lstrip()[:1]
        if first in ("{", "["):
            try:
                jsonlimits.check_depth(value)
            except jsonlimits.JSONTooDeep as exc:
                return f"field {key} is not acceptable JSON: {exc}"
    return ""


def _parse_timestamp(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SnsInboundType:
    name = "aws_sns"
    options_model = SnsOptions
    settings_model = SnsSettings
    rulesets = RULESETS
    default_ruleset = DEFAULT_RULESET
    # SNS's own headers (message type, id, topic, subscription) are kept in the inbound log.
    stored_header_prefixes = ("x-amz-sns-",)
    # after_commit has work only for these (auto_confirm): no task per notification.
    after_commit_for = ("SubscriptionConfirmation",)

    def __init__(self) -> None:
        self._caches: dict[tuple[Path, float], CertificateCache] = {}
        # The cache of the config last asked for: resolving its directory is path work per message.
        self._last: tuple[Any, CertificateCache] | None = None

    def cert_cache(self, runtime: Runtime) -> CertificateCache:
        config = runtime.config
        last = self._last
        if last is not None and last[0] is config:
            return last[1]
        settings: SnsSettings = config.inbound_settings.get(self.name) or SnsSettings()
        directory = config.resolve_path(settings.cert_cache_dir)
        key = (directory, settings.fetch_timeout)
        if key not in self._caches:
            self._caches[key] = CertificateCache(directory, timeout=settings.fetch_timeout)
        self._last = (config, self._caches[key])
        return self._caches[key]

    def warm_up(self, runtime: Runtime) -> None:
        """Import the certificate parser (lazy for the daemon's start) before an ingest worker
        takes its first message."""
        from cryptography import x509  # noqa: F401

        _crypto()

    # --- unwrapping (shared by handle and dry runs) ---------------------------------
    def _unwrap(self, request: InboundRequest, options: SnsOptions) -> tuple[dict[str, Any], str] | Rejection:
        try:
            body = jsonlimits.loads(request.body)
        except jsonlimits.JSONTooDeep as exc:
            return Rejection(400, f"body is not acceptable JSON: {exc}")
        except (ValueError, UnicodeDecodeError):
            return Rejection(400, "body is not JSON")
        if not isinstance(body, dict):
            return Rejection(400, f"body is JSON but not an object (found {type(body).__name__})")
        header_type = request.header("x-amz-sns-message-type")
        if request.header("x-amz-sns-rawdelivery").lower() == "true":
            if not options.allow_raw_delivery:
                return Rejection(
                    403,
                    "raw message delivery carries no signature; set allow_raw_delivery = true "
                    "to accept it on this integration",
                    message_type=header_type or None,
                )
            envelope = {
                "Type": header_type or "Notification",
                "MessageId": request.header("x-amz-sns-message-id"),
                "TopicArn": request.header("x-amz-sns-topic-arn"),
                "Message": request.body.decode("utf-8", "replace"),
                "RawDelivery": True,
            }
            if envelope["Type"] != "Notification" or not envelope["MessageId"]:
                return Rejection(
                    400,
                    "raw delivery needs x-amz-sns-message-type Notification and x-amz-sns-message-id headers",
                )
            too_deep = _too_deep_field(envelope)
            if too_deep:
                return Rejection(400, too_deep, message_type="Notification", source_message_id=envelope["MessageId"])
            if options.topic_arns and envelope["TopicArn"] not in options.topic_arns:
                return Rejection(
                    403,
                    f"topic {envelope['TopicArn']!r} is not in this integration's topic_arns",
                    message_type="Notification",
                    source_message_id=envelope["MessageId"],
                )
            return envelope, "raw"
        kind = body.get("Type")
        if kind not in TYPES:
            return Rejection(
                400,
                f"unknown SNS message Type {kind!r}; expected one of {', '.join(TYPES)}",
                message_type=header_type or None,
            )
        if header_type and header_type != kind:
            return Rejection(
                400,
                f"x-amz-sns-message-type header says {header_type!r} but the body's Type is {kind!r}",
                message_type=kind,
            )
        missing = [f for f in REQUIRED[kind] if not isinstance(body.get(f), str) or body.get(f) == ""]
        if missing:
            return Rejection(
                400,
                f"missing or non-string SNS field(s): {', '.join(missing)}",
                message_type=kind,
                source_message_id=body.get("MessageId") if isinstance(body.get("MessageId"), str) else None,
            )
        if "Subject" in body and not isinstance(body["Subject"], str):
            return Rejection(400, "SNS field Subject is not a string", message_type=kind)
        too_deep = _too_deep_field(body)
        if too_deep:
            return Rejection(400, too_deep, message_type=kind, source_message_id=body["MessageId"])
        return body, kind

    def _message(self, envelope: dict[str, Any], kind: str) -> InboundMessage:
        message_id = envelope["MessageId"]
        topic = envelope["TopicArn"]
        if kind in ("Notification", "raw"):
            return InboundMessage(message_type="Notification", document=envelope, source_message_id=message_id)
        if kind == "SubscriptionConfirmation":
            return InboundMessage(
                message_type=kind,
                document=envelope,
                source_message_id=message_id,
                outcome=SUBSCRIPTION_CONFIRMATION,
                handshake=Handshake(topic, "pending", {"confirm_url": envelope["SubscribeURL"]}),
            )
        return InboundMessage(
            message_type=kind,
            document=envelope,
            source_message_id=message_id,
            outcome=UNSUBSCRIBE_CONFIRMATION,
            handshake=Handshake(topic, "unsubscribed", {"confirm_url": envelope["SubscribeURL"]}),
        )

    # --- the hook's interface -----------------------------------------------------
    async def handle(
        self, request: InboundRequest, integration: Integration, runtime: Runtime
    ) -> InboundMessage | Rejection:
        options: SnsOptions = integration.options  # type: ignore[assignment]
        unwrapped = self._unwrap(request, options)
        if isinstance(unwrapped, Rejection):
            return unwrapped
        envelope, kind = unwrapped
        if kind == "raw":
            return self._message(envelope, kind)
        message_id, topic = envelope["MessageId"], envelope["TopicArn"]

        def reject(status: int, reason: str) -> Rejection:
            return Rejection(status, reason, message_type=kind, source_message_id=message_id)

        if options.topic_arns and topic not in options.topic_arns:
            return reject(403, f"topic {topic!r} is not in this integration's topic_arns")
        region = topic_region(topic)
        if region is None:
            return reject(400, f"TopicArn {topic!r} is not an SNS topic ARN")
        sent_at = _parse_timestamp(envelope["Timestamp"])
        if sent_at is None:
            return reject(400, f"Timestamp {envelope['Timestamp']!r} is not an ISO 8601 time")
        now = runtime.clock.now()
        if options.max_age_hours is not None and now - sent_at > options.max_age_hours * 3600:
            return reject(400, f"message is older than max_age_hours ({options.max_age_hours}); a replay?")
        if sent_at - now > FUTURE_SKEW_SECONDS:
            return reject(400, "message Timestamp is in the future")
        cert_url = envelope["SigningCertURL"]
        try:
            problem = cert_url_problem(cert_url, topic)
            if problem is not None:
                raise SignatureError(problem)
            certificate = await self.cert_cache(runtime).get(cert_url)
            verify_signature(envelope, certificate)
        except SignatureError as exc:
            return reject(403, f"signature rejected: {exc.reason}")
        except CertificateUnavailable as exc:
            # The sender should retry: 5xx.
            return reject(503, f"signing certificate unavailable: {exc.reason}")
        return self._message(envelope, kind)

    async def after_commit(self, message: InboundMessage, integration: Integration, runtime: Runtime) -> None:
        options: SnsOptions = integration.options  # type: ignore[assignment]
        if message.message_type != "SubscriptionConfirmation" or not options.auto_confirm:
            return
        from alertd_aws_sns.confirm import confirm_and_record

        await confirm_and_record(
            runtime.store, integration.name, message.document, runtime.clock.now, via="auto_confirm"
        )

    async def confirm_subscription(self, runtime: Runtime, inbound_id: int, via: str) -> tuple[str, str]:
        """Confirm the subscription announced by inbound message ``inbound_id`` (the web console's
        button; the same checks as ``alertd sns confirm``): (topic, subscription ARN). LookupError
        when the row is not a confirmation, ValueError when confirming failed."""
        from alertd_aws_sns.confirm import ConfirmError, confirm_and_record, load_confirmation

        integration, envelope = await runtime.store.read(lambda db: load_confirmation(db, runtime.config, inbound_id))
        try:
            arn = await confirm_and_record(runtime.store, integration, envelope, runtime.clock.now, via=via)
        except ConfirmError as exc:
            raise ValueError(str(exc)) from None
        return envelope["TopicArn"], arn

    def describe_handshake(self, row: HandshakeRow) -> tuple[str, str]:
        """A subscription in ``alertd integrations``: its topic, state and announcing message."""
        return "topic", f"{row.key}: {row.state} (inbound #{row.inbound_id})"

    def sample_message(self, data: bytes, integration: Integration) -> InboundMessage | Rejection:
        """A dry-run message from a sample file (``{"headers": ..., "body": ...}``) or a plain body.

        Signatures are not checked; a plain CloudWatch alarm or EventBridge event (no
        envelope) is wrapped as if SNS had delivered it."""
        request = sample_request(data)
        options: SnsOptions = integration.options  # type: ignore[assignment]
        dry_options = options.model_copy(update={"allow_raw_delivery": True, "topic_arns": []})
        unwrapped = self._unwrap(request, dry_options)
        if isinstance(unwrapped, Rejection):
            return unwrapped
        return self._message(*unwrapped)


def sample_request(data: bytes) -> InboundRequest:
    headers: dict[str, str] = {}
    body = data
    try:
        parsed = jsonlimits.loads(data)
    except (ValueError, UnicodeDecodeError):
        parsed = None  # (too deep included: _unwrap then refuses the body with its reason)
    if isinstance(parsed, dict) and set(parsed) == {"headers", "body"}:
        headers = {str(k).lower(): str(v) for k, v in (parsed["headers"] or {}).items()}
        inner = parsed["body"]
        body = (inner if isinstance(inner, str) else json.dumps(inner)).encode()
        parsed = inner if isinstance(inner, dict) else None
    if isinstance(parsed, dict) and "Type" not in parsed:
        # A bare alarm or event: treat it as raw delivery.
        headers.setdefault("x-amz-sns-message-type", "Notification")
        headers.setdefault("x-amz-sns-message-id", "dry-run")
        headers["x-amz-sns-rawdelivery"] = "true"
    return InboundRequest(
        method="POST",
        path="/in/{token}",
        headers=headers,
        body=body,
        remote_addr="dry-run",
        received_at=time.time(),
    )
