"""The ``smtp`` channel: one email per notification, sent with smtplib in a worker thread."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import trio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alertd.plugin import DeliveryResult, Notification, error_with_cause
from alertd_smtp.message import build_message, message_id


class SmtpSettings(BaseModel):
    """``[channels.smtp]`` in alertd.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    # starttls: plain connection upgraded with STARTTLS (port 587); tls: implicit TLS (port 465);
    # none: no encryption at all (a relay on localhost).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str
    timeout: float = Field(30, gt=0, le=60)
    concurrency: int = Field(4, ge=1, le=64)
    # A CA certificate (PEM) to trust in addition to the system's, for a relay with a private CA.
    ca_file: Path | None = None
    # The name sent in EHLO; by default the host's fully qualified name.
    helo_name: str | None = None

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        _, addr = parseaddr(value)
        if "@" not in addr or any(c in value for c in "\r\n"):
            raise ValueError("expected an email address such as alertd@example.com or 'alertd <alertd@example.com>'")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        if not value.is_absolute():
            raise ValueError("expected an absolute path to a PEM file")
        if not value.is_file():
            raise ValueError(f"expected a PEM file; {value} does not exist")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("expected both username and password, or neither")
        if self.username is not None and self.security == "none":
            raise ValueError("expected security = 'starttls' or 'tls' with username/password (no clear-text passwords)")
        return self

    @property
    def envelope_from(self) -> str:
        return parseaddr(self.from_address)[1]


@lru_cache(maxsize=8)
def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def _open(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            local_hostname=settings.helo_name,
            timeout=settings.timeout,
            context=_tls_context(settings.ca_file),
        )
    return smtplib.SMTP(settings.host, settings.port, local_hostname=settings.helo_name, timeout=settings.timeout)


def send_blocking(settings: SmtpSettings, message: EmailMessage, recipient: str) -> None:
    """Connect, secure, authenticate, send, quit. Runs in a worker thread; raises smtplib/OS errors."""
    with _open(settings) as smtp:
        if settings.security == "starttls":
            smtp.ehlo()
            smtp.starttls(context=_tls_context(settings.ca_file))
            smtp.ehlo()
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username, settings.password.get_secret_value())
        # One recipient: a refusal raises SMTPRecipientsRefused rather than returning it.
        smtp.send_message(message, from_addr=settings.envelope_from, to_addrs=[recipient])


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _by_code(code: int, what: str, server_message: Any) -> DeliveryResult:
    error = f"{what}: {code} {_text(server_message)}".strip()
    if 400 <= code < 500:
        return DeliveryResult("retry", error=error)
    return DeliveryResult("failed", error=error)


def classify(exc: BaseException) -> DeliveryResult:
    """SMTP 4xx, lost connections and timeouts are passing; 5xx and configuration mistakes are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, server_message = next(iter(exc.recipients.values()), (550, b"recipient refused"))
        return _by_code(code, "recipient refused", server_message)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(exc.smtp_code, "authentication failed", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _by_code(exc.smtp_code, "sender refused", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPDataError):
        return _by_code(exc.smtp_code, "message refused", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPConnectError):
        return _by_code(exc.smtp_code, "server refused the connection", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, "server error", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryResult("retry", error=f"server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryResult("failed", error=f"server does not support what the settings ask: {exc}")
    if isinstance(exc, smtplib.SMTPException):  # e.g. "No suitable authentication method found."
        return DeliveryResult("failed", error=f"SMTP error: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryResult("failed", error=f"TLS certificate not trusted: {exc.verify_message or exc}")
    if isinstance(exc, TimeoutError):
        return DeliveryResult("retry", error=f"timed out: {exc or 'no answer'}")
    if isinstance(exc, OSError):  # refused, unreachable, DNS, TLS handshake
        return DeliveryResult("retry", error=error_with_cause(exc))
    raise exc


def _redact(result: DeliveryResult, settings: SmtpSettings) -> DeliveryResult:
    if result.error and settings.password is not None:
        secret = settings.password.get_secret_value()
        if secret and secret in result.error:
            return DeliveryResult(result.status, result.provider_id, result.error.replace(secret, "***"))
    return result


class SmtpChannel:
    name = "smtp"
    kinds = ("email",)
    config_model = SmtpSettings
    # A `concurrency` key in [channels.smtp] takes precedence (the outbox reads it per send).
    concurrency = SmtpSettings.model_fields["concurrency"].default

    async def send(self, notification: Notification, settings: SmtpSettings, runtime: Any) -> DeliveryResult:
        address = notification.address.strip()
        recipient = parseaddr(address)[1]
        if "@" not in recipient or any(c in address for c in "\r\n"):
            return DeliveryResult("failed", error=f"not an email address: {address!r}")
        try:
            message = build_message(notification, settings.from_address)
        except (ValueError, TypeError) as exc:
            return DeliveryResult("failed", error=f"cannot build the email for {address!r}: {exc}")
        try:
            await trio.to_thread.run_sync(send_blocking, settings, message, recipient)
        except (smtplib.SMTPException, OSError) as exc:
            return _redact(classify(exc), settings)
        return DeliveryResult("sent", provider_id=message_id(notification.idempotency_key))
