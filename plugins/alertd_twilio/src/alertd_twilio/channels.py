"""The ``twilio_sms`` and ``twilio_voice`` channels: Twilio's blocking client, in a worker thread.

Error mapping (what the outbox does next):

- HTTP 429 and 5xx from Twilio, connection errors and timeouts: ``retry`` (with backoff);
- any other Twilio error (4xx: 21211 invalid number, 21610 unsubscribed recipient,
  20003 bad credentials ...): ``failed`` with the code and message, so the user's next
  contact method is tried;
- a message Twilio accepted but reports ``failed``/``undelivered`` at once: ``failed``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import trio

from alertd.plugin import DeliveryResult, DeliveryState, Notification, error_with_cause, get_logger
from alertd_twilio.settings import TwilioSettings

if TYPE_CHECKING:
    from twilio.base.exceptions import TwilioException
    from twilio.rest import Client

    from alertd.plugin import Runtime

# The Twilio SDK (and requests under it) is imported by the first send, not when the daemon
# loads its plugins: a daemon without a Twilio channel never pays for it, one with it starts sooner.

log = get_logger("alertd.twilio")

SMS_MAX_CHARS = 320
DEFAULT_CONCURRENCY = 4

# Paths of the webhooks (see routes.py), relative to server.public_url.
SMS_STATUS_PATH = "/twilio/status/sms"
VOICE_STATUS_PATH = "/twilio/status/voice"


def twiml_path(notification_id: int) -> str:
    return f"/twilio/voice/twiml/{notification_id}"


def gather_path(notification_id: int) -> str:
    return f"/twilio/voice/gather/{notification_id}"


# Twilio's words in its status callbacks (MessageStatus, CallStatus), as the core's neutral
# states; any other word (queued, sending, sent, ringing, in-progress ...) is not final.
TWILIO_STATES = {
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,
    "completed": DeliveryState.DELIVERED,
    "failed": DeliveryState.FAILED,
    "undelivered": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,
    "no-answer": DeliveryState.UNANSWERED,
    "busy": DeliveryState.UNANSWERED,
}


def delivery_state(status: str) -> DeliveryState:
    return TWILIO_STATES.get(status, DeliveryState.ACCEPTED)


# --- the client -----------------------------------------------------------------------------

_clients: dict[tuple[str, str, str | None, float], Client] = {}
_clients_lock = threading.Lock()


def make_client(settings: TwilioSettings) -> Client:
    """A ``twilio.rest.Client`` for these settings; with ``api_base_url``, every request of the
    ``api`` domain (Messages, Calls) goes there instead of https://api.twilio.com."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    http_client = TwilioHttpClient(timeout=settings.timeout_seconds)
    client = Client(settings.account_sid, settings.auth_token.get_secret_value(), http_client=http_client)
    if settings.api_base_url:
        # Domain.absolute_url() joins its base_url with each request's path at request time.
        client.api.base_url = settings.api_base_url.rstrip("/")
        # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host name.
        client.edge = None
        client.region = None
    return client


def client_for(settings: TwilioSettings) -> Client:
    """One client (and its HTTP connection pool) per account, base URL and timeout; a reload
    with new credentials gets a new one."""
    key = (
        settings.account_sid,
        settings.auth_token.get_secret_value(),
        settings.api_base_url,
        settings.timeout_seconds,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make_client(settings)
        return client


def describe_error(exc: TwilioException) -> tuple[int | None, str]:
    """(HTTP status, "Twilio error <code>: <message>")."""
    from twilio.base.exceptions import TwilioRestException, TwilioServiceException

    if isinstance(exc, TwilioServiceException):
        text = exc.detail or exc.title
        return exc.status, f"Twilio error {exc.code}: {text}"
    if isinstance(exc, TwilioRestException):
        text = exc.msg
        # The client prefixes the API's message with "Unable to create record: ".
        for prefix in ("Unable to create record: ",):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        return exc.status, f"Twilio error {exc.code}: {text}"
    return None, f"Twilio client error: {exc}"


def map_exception(exc: Exception) -> DeliveryResult:
    import requests
    from twilio.base.exceptions import TwilioException

    if isinstance(exc, TwilioException):
        status, text = describe_error(exc)
        if status is not None and (status == 429 or status >= 500):
            return DeliveryResult("retry", error=f"HTTP {status}: {text}")
        return DeliveryResult("failed", error=f"HTTP {status}: {text}" if status else text)
    if isinstance(exc, requests.RequestException):
        return DeliveryResult("retry", error=f"cannot reach Twilio: {error_with_cause(exc)}")
    raise exc


# --- texts ----------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def sms_body(notification: Notification) -> str:
    """At most SMS_MAX_CHARS: the subject, and for a page how to answer; a workflow's notice about an
    alert is its whole message and the alert's link (a handoff notice: its first line)."""
    if notification.is_notice and notification.alert_id is not None:
        lines = notification.notice_lines()
        about = "\n" + lines[-1][: SMS_MAX_CHARS // 2]  # the alert's line survives a long message
        return clip("\n".join(lines[:-1]), SMS_MAX_CHARS - len(about)) + about
    if notification.purpose == "alert":
        footer = f"\nReply ACK {notification.alert_id} or CLOSE {notification.alert_id}"
        return clip(notification.subject, SMS_MAX_CHARS - len(footer)) + footer
    return clip(notification.subject, SMS_MAX_CHARS)


# --- the channels ---------------------------------------------------------------------------


class TwilioChannel:
    name = ""
    kinds: tuple[str, ...] = ()
    config_model = TwilioSettings

    # The outbox prefers ``concurrency`` from the channel's table when it is set.
    concurrency = DEFAULT_CONCURRENCY

    @staticmethod
    def base_url(notification: Notification, runtime: Runtime | None) -> str:
        if notification.public_url:
            return notification.public_url.rstrip("/")
        assert runtime is not None, "a notification without public_url needs the runtime"
        return runtime.config.public_url

    async def send(
        self, notification: Notification, settings: TwilioSettings, runtime: Runtime | None
    ) -> DeliveryResult:
        try:
            result = await trio.to_thread.run_sync(self.send_blocking, notification, settings, runtime)
        except Exception as exc:
            result = map_exception(exc)
        log_fn = log.warning if result.status in ("retry", "failed") else log.debug
        log_fn(
            "twilio.send",
            channel=self.name,
            notification=notification.id,
            alert_id=notification.alert_id,
            status=result.status,
            provider_id=result.provider_id,
            error=result.error,
        )
        return result

    def send_blocking(
        self, notification: Notification, settings: TwilioSettings, runtime: Runtime | None
    ) -> DeliveryResult:
        raise NotImplementedError


class TwilioSmsChannel(TwilioChannel):
    name = "twilio_sms"
    kinds = ("sms",)

    def send_blocking(
        self, notification: Notification, settings: TwilioSettings, runtime: Runtime | None
    ) -> DeliveryResult:
        params: dict[str, Any] = {
            "to": notification.address,
            "from_": settings.from_number,
            "body": sms_body(notification),
        }
        if settings.status_callbacks:
            # The notification id rides along, so a report that beats our own commit still finds its row.
            params["status_callback"] = f"{self.base_url(notification, runtime)}{SMS_STATUS_PATH}?n={notification.id}"
        message = client_for(settings).messages.create(**params)
        if message.status in ("failed", "undelivered"):
            return DeliveryResult(
                "failed",
                provider_id=message.sid,
                error=f"Twilio reported {message.status}: error {message.error_code}: {message.error_message}",
            )
        return DeliveryResult("sent", provider_id=message.sid)


class TwilioVoiceChannel(TwilioChannel):
    name = "twilio_voice"
    kinds = ("voice",)
    # Nobody wants a phone call to say all is well: the outbox queues no closure notice by voice.
    closure_notices = False

    def send_blocking(
        self, notification: Notification, settings: TwilioSettings, runtime: Runtime | None
    ) -> DeliveryResult:
        if notification.purpose not in ("alert", "workflow"):
            # A workflow's notice is read out (routes.call_menu). closure_notices = False keeps
            # closure notices out of the queue; if one comes anyway (queued by another channel's
            # row before a reload), nobody is woken up, and "failed" says so.
            return DeliveryResult(
                "failed", error=f"twilio_voice only calls to page, not for {notification.purpose!r} notices"
            )
        base = self.base_url(notification, runtime)
        params: dict[str, Any] = {
            "to": notification.address,
            "from_": settings.from_number,
            "url": base + twiml_path(notification.id),
            "method": "POST",
            "timeout": settings.ring_seconds,
        }
        if settings.status_callbacks:
            params["status_callback"] = f"{base}{VOICE_STATUS_PATH}?n={notification.id}"
            params["status_callback_event"] = ["completed"]
            params["status_callback_method"] = "POST"
        call = client_for(settings).calls.create(**params)
        return DeliveryResult("sent", provider_id=call.sid)


SMS = TwilioSmsChannel()
VOICE = TwilioVoiceChannel()
CHANNELS = (SMS, VOICE)
