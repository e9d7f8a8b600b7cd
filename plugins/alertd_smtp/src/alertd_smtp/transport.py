"""Sending one email with smtplib (in a worker thread), and what a failure means for a retry.
Imported at the first send (alertd_smtp.channel)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from smtplib import SMTPException as SMTPException
from typing import Any

from alertd.plugin import DeliveryResult, error_with_cause

SmtpSettings = Any  # alertd_smtp.channel's (which imports this module at its first send)


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
