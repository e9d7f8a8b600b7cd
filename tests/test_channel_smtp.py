"""The smtp channel plugin against a real SMTP server (aiosmtpd): STARTTLS + AUTH, implicit TLS, errors."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from alertd_smtp import CHANNEL, SmtpSettings
from channel_fixtures import make_notification, make_self_signed
from helpers import free_port, run_cli_in_process, write_config

USER, PASSWORD = "alertd", "s3cret-Pa55word"


class Recorder:
    """Accepts everything and keeps each message; ``rcpt_reply``/``data_reply`` turn it into a refuser."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK queued"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and (auth_data.password == PASSWORD.encode())
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("smtp-cert"))


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    return context


def start(handler: Recorder, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), server_hostname="mx.test", **kwargs)
    controller.start()
    return controller


@pytest.fixture
def starttls_server(cert: tuple[Path, Path]) -> Iterator[tuple[Controller, Recorder]]:
    """Port-587 style: STARTTLS required, then AUTH required."""
    handler = Recorder()
    controller = start(
        handler,
        tls_context=server_context(cert),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    yield controller, handler
    controller.stop()


def settings_for(port: int, cert: tuple[Path, Path] | None = None, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": USER,
        "password": PASSWORD,
        "from_address": "alertd <alertd@example.org>",
        "helo_name": "alertd.test",
        "timeout": 5,
        "ca_file": str(cert[0]) if cert else None,
    }
    values.update(overrides)
    return SmtpSettings.model_validate(values)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_starttls_auth_sends_a_multipart_alert_with_action_links(
    starttls_server: tuple[Controller, Recorder], cert: tuple[Path, Path]
) -> None:
    controller, handler = starttls_server
    settings = settings_for(controller.port, cert)
    notification = make_notification()

    result = await CHANNEL.send(notification, settings, None)
    assert result.status == "sent", result.error
    again = await CHANNEL.send(notification, settings, None)  # e.g. a resend after a crash

    assert len(handler.messages) == 2
    mail_from, rcpt_tos, message = handler.messages[0]
    assert mail_from == "alertd@example.org"
    assert rcpt_tos == ["alice@example.com"]
    assert message["Subject"] == "[CRITICAL] #42 Failed console login for root"
    assert message["To"] == "alice@example.com"
    assert message["From"] == "alertd <alertd@example.org>"
    assert message.get_content_type() == "multipart/alternative"
    message_id = message["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@alertd>")
    assert result.provider_id == message_id == again.provider_id == handler.messages[1][2]["Message-ID"]
    assert message["Auto-Submitted"] == "auto-generated"

    text, html = parts(message)
    for body in (text, html):
        assert "Failed console login for root" in body
        assert "3 failed sign-ins in 5 minutes" in body
        assert "CRITICAL" in body
        assert "cloudtrail-alarms / ConsoleLoginFailures" in body
        assert "123456789012" in body and "us-east-1" in body
        assert "https://console.aws.example/cloudtrail/event/abc" in body
        assert notification.links["ack"] in body
        assert notification.links["close"] in body
        assert notification.links["view"] in body  # the alert's console page
        assert "resolved" not in body.lower()
    assert "<script>" not in html and "&lt;script&gt;" in html  # field values are escaped in HTML
    assert f'href="{notification.links["ack"]}"' in html


async def test_a_javascript_url_never_becomes_a_link(
    starttls_server: tuple[Controller, Recorder], cert: tuple[Path, Path]
) -> None:
    controller, handler = starttls_server
    for url in ("javascript:alert(document.cookie)", " JavaScript:alert(1)", "java\tscript:x", "data:text/html,x"):
        handler.messages.clear()
        notification = make_notification(alert={"url": url})
        result = await CHANNEL.send(notification, settings_for(controller.port, cert), None)
        assert result.status == "sent", result.error
        text, html = parts(handler.messages[0][2])
        assert "script:" not in text.lower() and "More:" not in text
        assert "script:" not in html.lower() and "data:" not in html
        assert html.count("<a ") == 3  # only the signed acknowledge and close links and alertd's own page
        assert notification.links["ack"] in html


async def test_closure_notice_has_no_action_links(
    starttls_server: tuple[Controller, Recorder], cert: tuple[Path, Path]
) -> None:
    controller, handler = starttls_server
    notification = make_notification("closed")
    result = await CHANNEL.send(notification, settings_for(controller.port, cert), None)
    assert result.status == "sent", result.error
    (_, _, message) = handler.messages[0]
    assert message["Subject"].startswith("[RESOLVED] #42")
    text, html = parts(message)
    for body in (text, html):
        assert "resolved" in body.lower()
        assert "/act/" not in body
        assert "Acknowledge" not in body


async def test_a_different_notification_gets_a_different_message_id(
    starttls_server: tuple[Controller, Recorder], cert: tuple[Path, Path]
) -> None:
    controller, _ = starttls_server
    settings = settings_for(controller.port, cert)
    first = await CHANNEL.send(make_notification(), settings, None)
    second = await CHANNEL.send(make_notification(idempotency_key="alert:42:1:0:alice:email"), settings, None)
    assert first.provider_id != second.provider_id


async def test_wrong_password_fails_without_showing_it(
    starttls_server: tuple[Controller, Recorder], cert: tuple[Path, Path]
) -> None:
    controller, handler = starttls_server
    wrong = "not-the-" + PASSWORD
    result = await CHANNEL.send(make_notification(), settings_for(controller.port, cert, password=wrong), None)
    assert result.status == "failed"
    assert "535" in (result.error or "")
    assert wrong not in (result.error or "") and PASSWORD not in (result.error or "")
    assert handler.messages == []


async def test_untrusted_certificate_fails(starttls_server: tuple[Controller, Recorder]) -> None:
    controller, _ = starttls_server
    result = await CHANNEL.send(make_notification(), settings_for(controller.port, None), None)
    assert result.status == "failed"
    assert "certificate" in (result.error or "")


async def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    handler = Recorder()
    controller = start(handler, ssl_context=server_context(cert))
    try:
        settings = settings_for(controller.port, cert, security="tls", username=None, password=None)
        result = await CHANNEL.send(make_notification(), settings, None)
    finally:
        controller.stop()
    assert result.status == "sent", result.error
    assert handler.messages[0][2]["To"] == "alice@example.com"


@pytest.mark.parametrize(
    ("handler", "status", "text"),
    [
        (Recorder(data_reply="451 4.3.0 try later"), "retry", "451 4.3.0 try later"),
        (Recorder(rcpt_reply="450 4.2.1 mailbox busy"), "retry", "450"),
        (Recorder(rcpt_reply="550 5.1.1 no such user here"), "failed", "550 5.1.1 no such user here"),
        (Recorder(data_reply="554 5.7.1 rejected as spam"), "failed", "554"),
    ],
)
async def test_smtp_replies_map_to_retry_or_failed(handler: Recorder, status: str, text: str) -> None:
    controller = start(handler)
    try:
        settings = settings_for(controller.port, security="none", username=None, password=None)
        result = await CHANNEL.send(make_notification(), settings, None)
    finally:
        controller.stop()
    assert result.status == status
    assert text in (result.error or "")


async def test_connection_refused_is_retried() -> None:
    settings = settings_for(free_port(), security="none", username=None, password=None)
    result = await CHANNEL.send(make_notification(), settings, None)
    assert result.status == "retry"
    assert "refused" in (result.error or "").lower()


async def test_a_server_that_never_answers_is_retried() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never greets
        settings = settings_for(silent.getsockname()[1], security="none", username=None, password=None, timeout=0.3)
        started = time.monotonic()
        result = await CHANNEL.send(make_notification(), settings, None)
    assert result.status == "retry"
    assert "timed out" in (result.error or "")
    assert time.monotonic() - started < 2


async def test_a_bad_address_fails_at_once() -> None:
    settings = settings_for(free_port(), security="none", username=None, password=None)
    result = await CHANNEL.send(make_notification(address="alice\r\nBcc: x@example.com"), settings, None)
    assert result.status == "failed"


def test_settings_validation() -> None:
    assert SmtpSettings(host="h", from_address="a@b.c").port == 587
    with pytest.raises(ValueError, match="both username and password, or neither"):
        SmtpSettings(host="h", from_address="a@b.c", username="u")
    with pytest.raises(ValueError, match="clear-text"):
        SmtpSettings(host="h", from_address="a@b.c", username="u", password="p", security="none")
    with pytest.raises(ValueError, match="email address"):
        SmtpSettings(host="h", from_address="nobody")
    assert "s3cret" not in repr(SmtpSettings(host="h", from_address="a@b.c", username="u", password="s3cret"))


def test_check_config_names_missing_and_unknown_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path, '\n[channels.smtp]\nhost = "smtp.example.com"\nhots = "typo"\n')
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert "channels.smtp.from_address: missing required key (plugin smtp)" in result.stderr
    assert "channels.smtp.hots: unknown key (expected one of: " in result.stderr
    assert "(plugin smtp)" in result.stderr.split("channels.smtp.hots:", 1)[1].splitlines()[0]
