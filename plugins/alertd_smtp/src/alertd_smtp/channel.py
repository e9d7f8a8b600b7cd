"""The ``smtp`` channel: one email per notification, sent with smtplib in a worker thread.

smtplib, the email package and the message's HTML load at the first send (alertd_smtp.transport,
alertd_smtp.message): every ``alertd run`` loads this module with its plugin, and they were a
tenth of the plugins' imports before ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import trio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alertd.plugin import DeliveryResult, Notification


def parseaddr(address: str) -> tuple[str, str]:
    from email.utils import parseaddr

    return parseaddr(address)


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
        from alertd_smtp.message import build_message, message_id
        from alertd_smtp.transport import SMTPException, classify, send_blocking

        try:
            message = build_message(notification, settings.from_address)
        except (ValueError, TypeError) as exc:
            return DeliveryResult("failed", error=f"cannot build the email for {address!r}: {exc}")
        try:
            await trio.to_thread.run_sync(send_blocking, settings, message, recipient)
        except (SMTPException, OSError) as exc:
            return _redact(classify(exc), settings)
        return DeliveryResult("sent", provider_id=message_id(notification.idempotency_key))
