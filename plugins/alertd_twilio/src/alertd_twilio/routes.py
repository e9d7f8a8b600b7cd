"""Twilio's webhooks: SMS replies, the voice call's TwiML and keypresses, delivery reports.

Every route checks ``X-Twilio-Signature`` (HMAC-SHA1 of the full public URL and the form
parameters, keyed with the account's Auth Token) before it looks at anything else; a
request without a good one gets 403 and changes nothing. The routes answer 404 while
neither Twilio channel is configured (they follow config reloads).

Twilio's signature carries no timestamp, so a captured request stays valid: the
MessageSid of each SMS reply and the CallSid + key of each acting keypress are
recorded as unique, and a repeat is answered 200 and does nothing.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, request
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from alertd.plugin import (
    MAX_ID,
    AlertCommandError,
    Runtime,
    StoreUnavailable,
    actor_problem,
    apply_command,
    first_receipt,
    get_logger,
    get_notification,
    handle_reply,
    parse_id,
    phone_number,
    report_delivery_status,
)
from alertd_twilio.channels import SMS_STATUS_PATH, VOICE_STATUS_PATH, delivery_state, gather_path, twiml_path
from alertd_twilio.settings import TwilioSettings

log = get_logger("alertd.twilio")

MENU = "Press 1 to acknowledge, 2 to close, 3 to repeat."
SMS_CHANNEL, VOICE_CHANNEL = "twilio_sms", "twilio_voice"


def settings_for(runtime: Runtime, preferred: str) -> TwilioSettings | None:
    """The settings of ``preferred`` if configured, else of the other Twilio channel."""
    channels = runtime.config.channels
    for name in (preferred, VOICE_CHANNEL if preferred == SMS_CHANNEL else SMS_CHANNEL):
        entry = channels.get(name)
        if entry is not None and isinstance(entry[1], TwilioSettings):
            return entry[1]
    return None


def signature_problem(settings: TwilioSettings, url: str, params: Any, headers: Any) -> str | None:
    """Why the request is not from Twilio, or None when its signature is good."""
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return f"missing {SIGNATURE_HEADER} header"
    if headers.get(SIGNATURE_SETTINGS_HEADER):
        return (
            f"request is signed with a SharedKey ({SIGNATURE_SETTINGS_HEADER}); "
            "only Auth Token signatures are supported"
        )
    validator = RequestValidator(settings.auth_token.get_secret_value())
    if not validator.validate(url, params, signature):
        return f"invalid {SIGNATURE_HEADER} for {url}"
    return None


def twiml(response: Any, status: int = 200) -> Response:
    return Response(str(response), status=status, content_type="text/xml; charset=utf-8")


def text(body: str, status: int) -> Response:
    return Response(body + "\n", status=status, content_type="text/plain; charset=utf-8")


def spoken(message: str) -> str:
    return message.replace("#", "number ")


def say(target: Any, settings: TwilioSettings, message: str) -> None:
    target.say(spoken(message), voice=settings.voice, language=settings.language)


def goodbye(settings: TwilioSettings, message: str) -> VoiceResponse:
    response = VoiceResponse()
    say(response, settings, message)
    response.hangup()
    return response


def call_menu(
    settings: TwilioSettings, row: dict[str, Any] | None, base: str, notification_id: int, response: VoiceResponse
) -> VoiceResponse:
    """What a call says: the alert, ``repeat`` times, inside a one-key <Gather>."""
    if row is None or row["kind"] != "voice":
        say(response, settings, "Sorry, this alert call is not known to alert D. Goodbye.")
        response.hangup()
        return response
    alert_id = row["alert_id"]
    if alert_id is None or row.get("purpose") == "workflow":
        # A workflow's notice (a handoff, a stakeholder told of an alert): its text, no menu.
        try:
            text = str(json.loads(row.get("payload") or "{}").get("message") or "")
        except (ValueError, AttributeError):
            text = ""
        if alert_id is not None:
            text = f"{text} About alert {alert_id}."
        for i in range(settings.repeat):
            if i:
                response.pause(length=1)
            say(response, settings, f"This is alert D. {text}")
        say(response, settings, "Goodbye.")
        response.hangup()
        return response
    if row["alert_status"] == "closed":
        say(response, settings, f"Alert {alert_id} is already closed. Goodbye.")
        response.hangup()
        return response
    intro = f"This is alert D. Alert {alert_id}, severity {row['alert_severity']}: {row['alert_title']}."
    if row["alert_status"] == "acknowledged":
        intro += " It is acknowledged."
    gather = response.gather(
        num_digits=1, action=base + gather_path(notification_id), method="POST", timeout=settings.gather_timeout
    )
    for i in range(settings.repeat):
        if i:
            gather.pause(length=1)
        say(gather, settings, f"{intro} {MENU}")
    say(response, settings, "No key was pressed. Goodbye.")
    response.hangup()
    return response


def status_error(form: Any, status: str) -> str:
    code, message = form.get("ErrorCode"), form.get("ErrorMessage")
    error = f"Twilio reported {status}"
    if code:
        error += f": error {code}"
        if message:
            error += f": {message}"
    return error


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("twilio", __name__, url_prefix="/twilio")

    async def verified(preferred: str) -> tuple[TwilioSettings, Any] | Response:
        """(settings, form) of a request signed by Twilio, or the response refusing it."""
        settings = settings_for(runtime, preferred)
        if settings is None:
            return text("the Twilio channels are not configured", 404)
        form = await request.form
        url = runtime.config.public_url + request.path
        query = request.query_string.decode("latin-1")
        if query:
            url += "?" + query
        problem = signature_problem(settings, url, form, request.headers)
        if problem is not None:
            log.warning("twilio.webhook_rejected", path=request.path, remote_addr=request.remote_addr, reason=problem)
            return text(f"forbidden: {problem}", 403)
        return settings, form

    @bp.post("/sms/inbound")
    async def sms_inbound() -> Response:
        checked = await verified(SMS_CHANNEL)
        if isinstance(checked, Response):
            return checked
        _settings, form = checked
        sender, body, sid = form.get("From", ""), form.get("Body", ""), form.get("MessageSid", "")
        if not sid or len(sid) > 64:
            return text("expected a MessageSid of at most 64 characters", 400)
        raw, now = runtime.config.raw, runtime.clock.now()

        def job(db: Any) -> str | None:
            if not first_receipt(db, f"{SMS_CHANNEL}:{sid}", now):
                return None
            # A text comes from the same phone as a voice contact: either may name the sender.
            return handle_reply(db, raw, "sms", sender, body, now, kinds=("sms", "voice"), normalize=phone_number)

        try:
            result = await runtime.store.write(job)
        except StoreUnavailable as exc:
            log.error("twilio.store_unavailable", path=request.path, error=str(exc))
            return text("storage unavailable; retry later", 503)
        if result is None:
            log.warning("twilio.sms_replayed", message_sid=sid, remote_addr=request.remote_addr)
            return twiml(MessagingResponse())  # answered before: no second reply, no second action
        log.info("twilio.sms_reply", message_sid=sid)
        response = MessagingResponse()
        response.message(result)
        return twiml(response)

    @bp.route("/voice/twiml/<int:notification_id>", methods=["GET", "POST"])
    async def voice_twiml(notification_id: int) -> Response:
        checked = await verified(VOICE_CHANNEL)
        if isinstance(checked, Response):
            return checked
        settings, _form = checked
        if notification_id > MAX_ID:
            return twiml(call_menu(settings, None, runtime.config.public_url, notification_id, VoiceResponse()))
        row = await runtime.store.read(lambda db: get_notification(db, notification_id))
        return twiml(call_menu(settings, row, runtime.config.public_url, notification_id, VoiceResponse()))

    @bp.post("/voice/gather/<int:notification_id>")
    async def voice_gather(notification_id: int) -> Response:
        checked = await verified(VOICE_CHANNEL)
        if isinstance(checked, Response):
            return checked
        settings, form = checked
        base = runtime.config.public_url
        if notification_id > MAX_ID:
            return twiml(call_menu(settings, None, base, notification_id, VoiceResponse()))
        row = await runtime.store.read(lambda db: get_notification(db, notification_id))
        if row is None or row["kind"] != "voice":
            return twiml(call_menu(settings, None, base, notification_id, VoiceResponse()))
        digits = form.get("Digits", "")
        if digits == "3":
            response = VoiceResponse()
            response.redirect(base + twiml_path(notification_id), method="POST")
            return twiml(response)
        if digits not in ("1", "2"):
            response = VoiceResponse()
            say(response, settings, "Sorry, I did not understand.")
            return twiml(call_menu(settings, row, base, notification_id, response))
        if row["alert_id"] is None:
            return twiml(goodbye(settings, "This call is about no alert. Goodbye."))
        action, done = ("ack", "acknowledged") if digits == "1" else ("close", "closed")
        alert_id, user, now = row["alert_id"], row["user"], runtime.clock.now()
        call_sid = form.get("CallSid", "")
        if not call_sid or len(call_sid) > 64:
            return text("expected a CallSid of at most 64 characters", 400)
        problem = actor_problem(runtime.config.raw, user)
        if problem is not None:
            log.info("twilio.voice_command_refused", alert_id=alert_id, user=user, action=action, reason=problem)
            return twiml(goodbye(settings, f"Alert {alert_id} was not {done}: {problem}. Goodbye."))
        receipt = f"{VOICE_CHANNEL}:{call_sid}:{notification_id}:{digits}"

        def job(db: Any) -> dict | None:
            if not first_receipt(db, receipt, now):
                return None
            return apply_command(db, action, alert_id, user, "voice", now, notification=notification_id)

        try:
            result = await runtime.store.write(job)
            if result is None:
                log.warning("twilio.gather_replayed", call_sid=call_sid, notification=notification_id, digits=digits)
                return twiml(goodbye(settings, "Goodbye."))
        except AlertCommandError as exc:
            log.info("twilio.voice_command_refused", alert_id=alert_id, user=user, action=action, reason=str(exc))
            return twiml(goodbye(settings, f"Alert {alert_id} was not {done}: {exc}. Goodbye."))
        except StoreUnavailable as exc:
            log.error("twilio.store_unavailable", path=request.path, error=str(exc))
            return twiml(goodbye(settings, "Sorry, alert D cannot record that right now. Please try again."))
        log.info("twilio.voice_command", alert_id=alert_id, user=user, action=action, notification=notification_id)
        return twiml(goodbye(settings, f"Alert {alert_id} {done}. Goodbye."))

    async def delivery_report(channel: str, sid: str | None, status: str | None, form: Any) -> Response:
        if not sid or not status:
            return text("expected a message or call SID and its status", 400)
        raw, now = runtime.config.raw, runtime.clock.now()
        error, state = status_error(form, status), delivery_state(status)
        notification_id = parse_id(request.args.get("n", ""))
        try:
            events = await runtime.store.write(
                lambda db: report_delivery_status(db, raw, channel, sid, state, error, now, notification_id)
            )
        except StoreUnavailable as exc:
            log.error("twilio.store_unavailable", path=request.path, error=str(exc))
            return text("storage unavailable; retry later", 503)
        log.info(
            "twilio.status", channel=channel, provider_id=sid, status=status, state=state.value, events=len(events)
        )
        return Response("", status=204)

    @bp.post(SMS_STATUS_PATH.removeprefix("/twilio"))
    async def sms_status() -> Response:
        checked = await verified(SMS_CHANNEL)
        if isinstance(checked, Response):
            return checked
        _settings, form = checked
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        return await delivery_report(SMS_CHANNEL, sid, status, form)

    @bp.post(VOICE_STATUS_PATH.removeprefix("/twilio"))
    async def voice_status() -> Response:
        checked = await verified(VOICE_CHANNEL)
        if isinstance(checked, Response):
            return checked
        _settings, form = checked
        return await delivery_report(VOICE_CHANNEL, form.get("CallSid"), form.get("CallStatus"), form)

    return bp
