"""The email itself: a multipart/alternative message (plain text + simple HTML)."""

from __future__ import annotations

import hashlib
import html
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from alertd.plugin import Notification, safe_link, visible, visible_block

# "view": the alert's page in the web console (or the API's JSON when the console is off).
ACTION_LABELS = (("ack", "Acknowledge"), ("close", "Close"), ("view", "Open in alertd"))


def message_id(idempotency_key: str) -> str:
    """The same Message-ID for every (re)send of one notification, so a resend after a crash
    is recognisable by the recipient's mail system (and by the person reading it)."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@alertd>"


def one_line(text: str) -> str:
    """Header values may not hold line breaks; collapse all whitespace runs to one space."""
    return " ".join(str(text).split())


def _when(notification: Notification, value: Any) -> str:
    """In the recipient's zone, with its name: an on-call person reads their own clock."""
    if isinstance(value, int | float):
        return notification.local_time(value)
    return str(value or "")


def _source(alert: dict[str, Any]) -> str:
    integration, source_id = alert.get("integration") or "", alert.get("source_id") or ""
    return f"{integration} / {source_id}" if integration and source_id else str(integration or source_id)


def _facts(notification: Notification) -> list[tuple[str, str]]:
    alert = notification.alert
    facts = [
        ("Alert", f"#{notification.alert_id}"),
        ("Severity", str(alert.get("severity") or "").upper()),
        ("Status", str(alert.get("status") or "")),
        ("Source", _source(alert)),
        ("Opened", _when(notification, alert.get("created_at"))),
    ]
    tags = alert.get("tags") or []
    if tags:
        facts.append(("Tags", ", ".join(str(t) for t in tags)))
    return [(k, v) for k, v in facts if v]


def _fields(alert: dict[str, Any]) -> list[tuple[str, str]]:
    fields = alert.get("fields") or {}
    if not isinstance(fields, dict):
        return []
    return [(str(k), "" if v is None else str(v)) for k, v in fields.items()]


def _actions(notification: Notification) -> list[tuple[str, str]]:
    if notification.purpose != "alert":
        return []
    return [(label, notification.links[key]) for key, label in ACTION_LABELS if notification.links.get(key)]


def text_body(notification: Notification) -> str:
    """Plain text; control characters from the source shown as escapes (text mail is read in terminals)."""
    alert = notification.alert
    if notification.alert_id is None or notification.is_notice:
        # A workflow's notice (a handoff, a stakeholder told of an alert): its message, and the alert's link.
        body = visible_block(notification.message.strip())
        if notification.alert_id is not None:
            link = notification.alert_link
            body += f"\n\nAlert #{notification.alert_id}: {link}" if link else f"\n\nAlert #{notification.alert_id}"
        return "\n".join([body, "", "-- ", f"alertd, notifying {notification.user_name}"]) + "\n"
    lines = [visible(alert.get("title") or f"Alert #{notification.alert_id}"), ""]
    if notification.purpose == "closed":
        lines += ["This alert has been resolved (closed). No action is needed.", ""]
    lines += [f"{key}: {visible(value)}" for key, value in _facts(notification)]
    description = str(alert.get("description") or "").strip()
    if description:
        lines += ["", visible_block(description)]
    fields = _fields(alert)
    if fields:
        lines += ["", "Details:"]
        lines += [f"  {visible(key)}: {visible(value)}" for key, value in fields]
    link = safe_link(alert.get("url"))
    if link:
        lines += ["", f"More: {visible(link)}"]
    actions = _actions(notification)
    if actions:
        lines += ["", "Respond (each link opens a confirmation page):"]
        lines += [f"  {label}: {url}" for label, url in actions]
    lines += ["", "-- ", f"alertd, notifying {notification.user_name}"]
    return "\n".join(lines) + "\n"


def html_body(notification: Notification) -> str:
    alert = notification.alert
    esc = html.escape
    if notification.alert_id is None or notification.is_notice:
        text = esc(notification.message.strip())
        about = ""
        if notification.alert_id is not None:
            link = esc(notification.alert_link, quote=True)
            label = f"Alert #{notification.alert_id}"
            about = f'<p><a href="{link}">{label}</a></p>' if link else f"<p>{label}</p>"
        return (
            '<!doctype html><html><head><meta charset="utf-8"></head><body style="font-family:sans-serif">'
            f'<p style="white-space:pre-wrap">{text}</p>{about}'
            f"<p><small>alertd, notifying {esc(notification.user_name)}</small></p></body></html>\n"
        )
    title = esc(str(alert.get("title") or f"Alert #{notification.alert_id}"))
    parts = [
        '<!doctype html><html><head><meta charset="utf-8"></head>',
        '<body style="font-family:sans-serif;max-width:40em">',
        f"<h2>{title}</h2>",
    ]
    if notification.purpose == "closed":
        parts.append(
            '<p style="color:#1a7f37"><strong>Resolved:</strong> this alert has been closed. No action is needed.</p>'
        )
    rows = "".join(
        f'<tr><th align="left" style="padding-right:1em">{esc(k)}</th><td>{esc(v)}</td></tr>'
        for k, v in _facts(notification)
    )
    parts.append(f"<table>{rows}</table>")
    description = str(alert.get("description") or "").strip()
    if description:
        parts.append(f'<p style="white-space:pre-wrap">{esc(description)}</p>')
    fields = _fields(alert)
    if fields:
        rows = "".join(
            f'<tr><th align="left" style="padding-right:1em">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in fields
        )
        parts.append(f"<h3>Details</h3><table>{rows}</table>")
    link = safe_link(alert.get("url"))  # http(s) only: never a javascript: href
    if link:
        url = esc(link, quote=True)
        parts.append(f'<p><a href="{url}">{url}</a></p>')
    actions = _actions(notification)
    if actions:
        buttons = " ".join(
            f'<a href="{esc(url, quote=True)}" style="display:inline-block;padding:.5em 1.2em;margin-right:.5em;'
            f'background:#0969da;color:#fff;text-decoration:none;border-radius:4px">{esc(label)}</a>'
            for label, url in actions
        )
        parts.append(f"<p>{buttons}</p><p><small>Each link opens a confirmation page.</small></p>")
    parts.append(f"<p><small>alertd, notifying {esc(notification.user_name)}</small></p></body></html>")
    return "\n".join(parts) + "\n"


def build_message(notification: Notification, from_address: str) -> EmailMessage:
    """Raises ValueError when the address or a header value cannot be put in a header."""
    msg = EmailMessage()
    msg["Subject"] = one_line(notification.subject)
    msg["From"] = from_address
    msg["To"] = notification.address
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(notification.idempotency_key)
    # RFC 3834: machine-generated; vacation responders must not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    if notification.alert_id is not None:
        msg["X-Alertd-Alert-Id"] = str(notification.alert_id)
    msg["X-Alertd-Purpose"] = notification.purpose
    msg.set_content(text_body(notification))
    msg.add_alternative(html_body(notification), subtype="html")
    return msg
