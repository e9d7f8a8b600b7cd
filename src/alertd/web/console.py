"""The web console: server-rendered pages on the daemon's own listener (``[web]``).

Every page needs a logged-in user (a session cookie, or ``[web] trusted_user_header`` from
a trusted proxy); every POST carries the session's CSRF token; every action is recorded
under the logged-in user (via ``web``). Pages read through the same read models as the CLI
(``readmodel``, ``timeline_words``, ``ledger``, ``dryrun``, ``oncall``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache, wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import trio
from quart import Blueprint, Response, g, redirect, request

from alertd import alerts, directory, ledger, mapping, oncall
from alertd.alert_actions import MAX_NOTE_CHARS
from alertd.commands import MAX_ID, AlertCommandError, apply_action, apply_command
from alertd.log import get_logger
from alertd.readmodel import alert_detail
from alertd.runtime import Runtime
from alertd.textout import age, local_time
from alertd.timeline_words import describe, how_reached
from alertd.views import match_outcome
from alertd.web import auth, queries
from alertd.web.live import LiveHub
from alertd.web.render import render

log = get_logger("alertd.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
MAX_FIELD = 200
MAX_BULK = 200
# A live stream ends after this long and the browser reconnects: nothing is held open forever.
STREAM_SECONDS = 25.0
KEEPALIVE_SECONDS = 10.0
SCHEDULE_DAYS = 14


class BadInput(Exception):
    """A form or query value out of bounds: a 400 page with the reason."""


@dataclass(frozen=True)
class Viewer:
    user: str
    admin: bool
    csrf: str
    zone: tzinfo


def _id(text: str | None, what: str) -> int:
    if text is None or not re.fullmatch(r"[0-9]{1,19}", text) or not 0 < int(text) <= MAX_ID:
        raise BadInput(f"{what} must be a whole number from 1 to 2^63-1")
    return int(text)


def _field(source: Any, name: str, limit: int = MAX_FIELD) -> str | None:
    value = source.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise BadInput(f"{name} must be at most {limit} characters")
    return value


def _choice(source: Any, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = source.get(name) or default
    if value is not None and value not in choices:
        raise BadInput(f"{name} must be one of {', '.join(choices)}")
    return value


# The actions beyond ack/close offered on an alert's page, with the word shown after each.
ALERT_ACTIONS = {
    "snooze": "snoozed",
    "note": "noted",
    "escalate": "escalated",
    "unack": "un-acknowledged",
    "reassign": "reassigned",
    "merge": "merged",
}
# As an SMS reply: a day at most from the console (longer is for the CLI or the API).
MAX_SNOOZE_MINUTES = 1440


def action_args(action: str, form: Any, policies: Any) -> dict[str, Any]:
    """The arguments of ``commands.apply_action`` from a console form, or BadInput with the reason."""
    if action == "snooze":
        minutes = (form.get("minutes") or "").strip()
        if not re.fullmatch(r"[0-9]{1,4}", minutes) or not 1 <= int(minutes) <= MAX_SNOOZE_MINUTES:
            raise BadInput(f"minutes must be a whole number from 1 to {MAX_SNOOZE_MINUTES}")
        return {"seconds": int(minutes) * 60}
    if action == "note":
        text = (_field(form, "text", MAX_NOTE_CHARS) or "").strip()
        if not text:
            raise BadInput("write the text of the note")
        return {"text": text}
    if action == "reassign":
        policy = _field(form, "policy", 64)
        if policy is None or policy not in policies:
            raise BadInput(f"policy must be one of {', '.join(policies) or '(none configured)'}")
        return {"policy": policy}
    if action == "merge":
        return {"into": _id((form.get("into") or "").strip(), "the alert to merge into")}
    return {}


def console_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("console", __name__)
    hub = LiveHub()
    runtime.listeners.append(hub)
    runtime.services["live_hub"] = hub

    def secure_cookie() -> bool:
        return runtime.config.public_url.startswith("https://")

    def page(template: str, code: int = 200, **context: Any) -> Response:
        viewer: Viewer | None = g.get("viewer")
        zone = viewer.zone if viewer else UTC
        body = render(template, zone, viewer=viewer, now=runtime.clock.now(), **context)
        return Response(body, status=code, content_type="text/html; charset=utf-8")

    def problem(status: int, message: str) -> Response:
        return page("problem.html", code=status, message=message)

    @bp.after_request
    async def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.content_type.startswith("text/html"):
            response.headers["Cache-Control"] = "no-store"
        cookie = g.get("new_session")
        if cookie is not None:
            token, max_age = cookie
            response.set_cookie(
                auth.COOKIE, token, max_age=max_age, httponly=True, secure=secure_cookie(), samesite="Lax", path="/"
            )
        return response

    def viewer_for(user: str, csrf: str) -> Viewer | None:
        person = runtime.config.raw.users.get(user)
        if person is None:  # removed from the config since: the session is worth nothing
            return None
        return Viewer(user, person.admin, csrf, ZoneInfo(person.timezone))

    async def identify() -> Viewer | None:
        now = runtime.clock.now()
        token = request.cookies.get(auth.COOKIE, "")
        if token:
            session = await runtime.store.read(lambda db: auth.find_session(db, token, now))
            if session is not None:
                return viewer_for(session.user, session.csrf)
        web = runtime.config.raw.web  # read per request: a reload (SIGHUP) applies at once
        header = web.trusted_user_header
        if header and auth.from_trusted_proxy(request.remote_addr or "", web.trusted_proxies):
            user = request.headers.get(header, "")
            if user in runtime.config.raw.users:
                lifetime = web.session_hours * 3600
                token, session = await runtime.store.write(lambda db: auth.create_session(db, user, now, lifetime))
                g.new_session = (token, int(lifetime))
                return viewer_for(user, session.csrf)
        return None

    def login_redirect() -> Response:
        target = request.full_path if request.method == "GET" else "/"
        return redirect("/login?" + urlencode({"next": target.rstrip("?")}), 303)

    def logged_in(view: Callable[..., Awaitable[Response]]) -> Any:
        """A page for logged-in users; POSTs must carry the session's CSRF token."""

        @wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            viewer = await identify()
            if viewer is None:
                if request.method != "GET":
                    return problem(403, "not logged in (or the session expired): log in again")
                return login_redirect()
            g.viewer = viewer
            try:
                if request.method == "POST":
                    form = await request.form
                    if not auth.csrf_ok(viewer.csrf, form.get("csrf") or request.headers.get("X-CSRF-Token")):
                        return problem(403, "missing or wrong CSRF token: reload the page and try again")
                return await view(*args, **kwargs)
            except BadInput as exc:
                return problem(400, str(exc))

        return wrapper

    def admin_only() -> Response | None:
        if not g.viewer.admin:
            return problem(403, "only admins (admin = true under [users]) may do this")
        return None

    @bp.get("/static/<name>")
    async def static(name: str) -> Response:
        found = STATIC.get(name)
        if found is None:
            return Response("not found\n", status=404, content_type="text/plain")
        body = _static_file(name)
        return Response(body, content_type=found, headers={"Cache-Control": "public, max-age=300"})

    # --- login ---------------------------------------------------------------------------

    def safe_next(value: str | None) -> str:
        # Only a path on this site: never //host or a scheme (an open redirect).
        if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
            return value
        return "/alerts"

    def login_page(status: int = 200, message: str = "", next_url: str = "/alerts") -> Response:
        import secrets

        token = secrets.token_urlsafe(24)
        response = page("login.html", code=status, message=message, login_csrf=token, next_url=next_url)
        response.set_cookie(
            auth.LOGIN_COOKIE, token, max_age=3600, httponly=True, secure=secure_cookie(), samesite="Strict", path="/"
        )
        return response

    @bp.get("/login")
    async def login_form() -> Response:
        return login_page(next_url=safe_next(request.args.get("next")))

    @bp.post("/login")
    async def login() -> Response:
        form = await request.form
        next_url = safe_next(form.get("next"))
        if not auth.csrf_ok(request.cookies.get(auth.LOGIN_COOKIE, ""), form.get("csrf")):
            return login_page(403, "the login form expired: try again", next_url)
        user, password = form.get("user", ""), form.get("password", "")
        if not user or len(user) > 64 or not password or len(password) > auth.MAX_PASSWORD:
            return login_page(400, "enter a user name (at most 64 characters) and a password", next_url)
        address = request.remote_addr or "?"
        now, web = runtime.clock.now(), runtime.config.raw.web
        wait = await runtime.store.read(lambda db: auth.login_blocked(db, user, address, now, web.login_attempts))
        if wait is not None:
            return login_page(429, f"too many failed logins: try again in {int(wait // 60) + 1} minutes", next_url)
        stored = None
        if user in runtime.config.raw.users:
            stored = await runtime.store.read(lambda db: auth.stored_hash(db, user))
        good = await trio.to_thread.run_sync(auth.verify_password, stored, password)
        if not good or stored is None:
            await runtime.store.write(lambda db: auth.record_failure(db, user, address, now))
            log.warning("web.login_failed", user=user[:64], remote_addr=address)
            return login_page(401, "wrong user name or password", next_url)
        lifetime = web.session_hours * 3600

        def start(db: Any) -> tuple[str, auth.Session]:
            auth.clear_failures(db, user, address)
            return auth.create_session(db, user, now, lifetime)

        token, _session = await runtime.store.write(start)
        g.new_session = (token, int(lifetime))
        log.info("web.login", user=user, remote_addr=address)
        response = redirect(next_url, 303)
        response.delete_cookie(auth.LOGIN_COOKIE, path="/")
        return response

    @bp.post("/logout")
    @logged_in
    async def logout() -> Response:
        token = request.cookies.get(auth.COOKIE, "")
        await runtime.store.write(lambda db: auth.end_session(db, token))
        response = redirect("/login", 303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    # --- alerts --------------------------------------------------------------------------

    @bp.get("/")
    async def home() -> Response:
        return redirect("/alerts", 303)

    @bp.get("/alerts")
    @logged_in
    async def alert_list() -> Response:
        args = request.args
        status = _choice(args, "status", alerts.STATUSES, "open")
        assert status is not None
        filters = {
            "integration": _field(args, "integration"),
            "severity": _field(args, "severity", 64),
            "text": _field(args, "q"),
        }
        before = _id(args["before"], "before") if args.get("before") else None

        def read(db: Any) -> dict[str, Any]:
            return {
                "rows": queries.alert_page(db, status, before=before, **filters),
                "counts": queries.status_counts(db),
            }

        data = await runtime.store.read(read)
        zone, now = g.viewer.zone, runtime.clock.now()
        for row in data["rows"]:  # formatted here once: the template stays a loop of plain strings
            row["opened"] = local_time(row["created_at"], zone, seconds=False)
            row["age"] = age(now - row["created_at"])
        context = {
            "status": status,
            "filters": filters,
            "integrations": list(runtime.config.integrations),
            "count_cap": queries.COUNT_CAP,
            "query": {k: v for k, v in {"status": status, **filters}.items() if v},
            **data,
        }
        if args.get("fragment") == "1":
            return page("_alert_rows.html", **context)
        return page("alerts.html", **context)

    @bp.post("/alerts/ack")
    @logged_in
    async def bulk_ack() -> Response:
        form = await request.form
        raw_ids = form.getlist("ids")
        if not raw_ids:
            raise BadInput("select at least one alert")
        if len(raw_ids) > MAX_BULK:
            raise BadInput(f"at most {MAX_BULK} alerts at once")
        ids = [_id(i, "alert id") for i in raw_ids]
        user, now = g.viewer.user, runtime.clock.now()

        def job(db: Any) -> int:
            done = 0
            for alert_id in ids:
                try:
                    apply_command(db, "ack", alert_id, user, "web", now)
                    done += 1
                except AlertCommandError:
                    pass  # closed (or gone) since the page was drawn: nothing to do
            return done

        await runtime.store.write(job)
        return redirect("/alerts?status=open", 303)

    @bp.get("/alerts/<alert_ref>")
    @logged_in
    async def alert_page(alert_ref: str) -> Response:
        alert_id = _id(alert_ref, "the alert id")

        def read(db: Any) -> dict[str, Any] | None:
            data = alert_detail(db, alert_id)
            if data is None:
                return None
            data["inbound"] = queries.inbound_for_alert(db, data, data["timeline"])
            return data

        data = await runtime.store.read(read)
        if data is None:
            return problem(404, f"no alert #{alert_id}")
        policy = runtime.config.raw.escalation_policies.get(data.get("escalation_policy") or "")
        from alertd.weburl import safe_link

        return page(
            "alert.html",
            alert=data,
            timeline=describe(data["timeline"]),
            policy=policy,
            policies=list(runtime.config.raw.escalation_policies),
            max_snooze=MAX_SNOOZE_MINUTES,
            max_note=MAX_NOTE_CHARS,
            source_link=safe_link(data.get("url")),
            done=_field(request.args, "done", 40),
        )

    async def alert_command(alert_ref: str, action: str) -> Response:
        alert_id = _id(alert_ref, "the alert id")
        now, user = runtime.clock.now(), g.viewer.user  # g is not reachable from the writer thread
        try:
            await runtime.store.write(lambda db: apply_command(db, action, alert_id, user, "web", now))
        except AlertCommandError as exc:
            return problem(exc.status, str(exc))
        done = "acknowledged" if action == "ack" else "closed"
        return redirect(f"/alerts/{alert_id}?done={done}", 303)

    @bp.post("/alerts/<alert_ref>/ack")
    @logged_in
    async def ack(alert_ref: str) -> Response:
        return await alert_command(alert_ref, "ack")

    @bp.post("/alerts/<alert_ref>/close")
    @logged_in
    async def close(alert_ref: str) -> Response:
        return await alert_command(alert_ref, "close")

    @bp.post("/alerts/<alert_ref>/<any(snooze, note, escalate, unack, reassign, merge):action>")
    @logged_in
    async def alert_action(alert_ref: str, action: str) -> Response:
        alert_id = _id(alert_ref, "the alert id")
        raw = runtime.config.raw  # read per request: a reload applies at once
        args = action_args(action, await request.form, raw.escalation_policies)
        now, user = runtime.clock.now(), g.viewer.user  # g is not reachable from the writer thread
        try:
            await runtime.store.write(lambda db: apply_action(db, raw, action, alert_id, user, "web", now, **args))
        except AlertCommandError as exc:
            return problem(exc.status, str(exc))
        done = ALERT_ACTIONS[action] + (f"+into+%23{args['into']}" if action == "merge" else "")
        return redirect(f"/alerts/{alert_id}?done={done}", 303)

    @bp.get("/live")
    @logged_in
    async def live() -> Response:
        async def stream() -> Any:
            yield b"retry: 2000\n\n"
            deadline = trio.current_time() + STREAM_SECONDS
            with hub.subscribe() as notices:
                while trio.current_time() < deadline:
                    notice = None
                    with trio.move_on_after(min(KEEPALIVE_SECONDS, max(0.0, deadline - trio.current_time()))):
                        try:
                            notice = await notices.receive()
                        except trio.EndOfChannel:  # the daemon is stopping
                            return
                    # Outside the cancel scope: a generator must not yield inside one.
                    yield f"event: alerts\ndata: {notice}\n\n".encode() if notice else b": keep-alive\n\n"

        response = Response(stream(), content_type="text/event-stream")
        response.timeout = None
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    # --- inbound log ---------------------------------------------------------------------

    @bp.get("/inbound")
    @logged_in
    async def inbound_list() -> Response:
        args = request.args
        integration = _field(args, "integration")
        outcome = _field(args, "outcome", 64)
        if outcome:
            try:
                outcome = match_outcome(outcome, OUTCOMES)
            except ValueError as exc:
                raise BadInput(str(exc)) from None
        hours = _field(args, "hours", 6)
        if hours is not None and (not re.fullmatch(r"[0-9]{1,5}", hours) or not 1 <= int(hours) <= 24 * 90):
            raise BadInput("hours must be a whole number from 1 to 2160")
        since = runtime.clock.now() - int(hours) * 3600 if hours else None
        before = _id(args["before"], "before") if args.get("before") else None
        rows = await runtime.store.read(
            lambda db: queries.inbound_page(db, integration=integration, outcome=outcome, since=since, before=before)
        )
        filters = {"integration": integration, "outcome": outcome, "hours": hours}
        return page(
            "inbound.html",
            rows=rows,
            filters=filters,
            outcomes=OUTCOMES,
            integrations=list(runtime.config.integrations),
            query={k: v for k, v in filters.items() if v},
        )

    async def inbound_row(inbound_ref: str) -> dict[str, Any]:
        inbound_id = _id(inbound_ref, "the inbound message id")
        row = await runtime.store.read(lambda db: ledger.get(db, inbound_id))
        if row is None:
            raise LookupError(f"no inbound message #{inbound_id}")
        return row

    def confirmable(row: dict[str, Any]) -> bool:
        integration = runtime.config.integrations.get(row.get("integration") or "")
        return (
            row.get("outcome") == "Subscription Confirmation"
            and integration is not None
            and hasattr(integration.inbound_type, "confirm_subscription")
        )

    def subscribe_url(row: dict[str, Any]) -> str:
        try:
            envelope = json.loads(row["body"])
        except (ValueError, RecursionError):
            return ""
        url = envelope.get("SubscribeURL") if isinstance(envelope, dict) else None
        return url if isinstance(url, str) else ""

    async def inbound_detail_page(
        inbound_ref: str, *, result: dict[str, Any] | None = None, note: str = "", status: int = 200
    ) -> Response:
        try:
            row = await inbound_row(inbound_ref)
        except LookupError as exc:
            return problem(404, str(exc))
        body: bytes = row.get("body") or b""
        return page(
            "inbound_detail.html",
            code=status,
            row=row,
            pretty=queries.pretty_body(body),
            confirmable=confirmable(row),
            subscribe_url=subscribe_url(row),
            testable=row.get("integration") in runtime.config.integrations,
            result=result,
            note=note,
        )

    @bp.get("/inbound/<inbound_ref>")
    @logged_in
    async def inbound_show(inbound_ref: str) -> Response:
        return await inbound_detail_page(inbound_ref)

    @bp.post("/inbound/<inbound_ref>/confirm")
    @logged_in
    async def inbound_confirm(inbound_ref: str) -> Response:
        refused = admin_only()
        if refused is not None:
            return refused
        try:
            row = await inbound_row(inbound_ref)
        except LookupError as exc:
            return problem(404, str(exc))
        if not confirmable(row):
            return problem(409, f"inbound #{row['id']} is not a subscription confirmation this console can confirm")
        inbound_type = runtime.config.integrations[row["integration"]].inbound_type
        try:
            topic, arn = await inbound_type.confirm_subscription(runtime, row["id"], f"web:{g.viewer.user}")
        except (LookupError, ValueError) as exc:
            return await inbound_detail_page(inbound_ref, note=f"not confirmed: {exc}", status=502)
        log.info("web.subscription_confirmed", user=g.viewer.user, inbound_id=row["id"])
        return await inbound_detail_page(inbound_ref, note=f"confirmed {topic}: {arn or '(no ARN returned)'}")

    async def run_dry(integration_name: str, data: bytes, assume: str | None) -> dict[str, Any]:
        from alertd.dryrun import dry_run

        integration = runtime.config.integrations[integration_name]
        try:
            return await trio.to_thread.run_sync(dry_run, integration, data, assume)  # type: ignore[arg-type]
        except RecursionError:
            raise BadInput("the message is nested too deeply") from None

    @bp.post("/inbound/<inbound_ref>/test")
    @logged_in
    async def inbound_test(inbound_ref: str) -> Response:
        form = await request.form
        assume = _choice(form, "assume", ("open", "acknowledged"), None)
        try:
            row = await inbound_row(inbound_ref)
        except LookupError as exc:
            return problem(404, str(exc))
        if row.get("integration") not in runtime.config.integrations:
            return problem(409, f"inbound #{row['id']} has no configured integration to test against")
        result = await run_dry(row["integration"], row["body"] or b"", assume)
        return await inbound_detail_page(inbound_ref, result=result)

    # --- integrations --------------------------------------------------------------------

    async def integration_info(name: str) -> dict[str, Any]:
        from alertd.integrations import integration_url

        integration = runtime.config.integrations[name]
        summary = await runtime.store.read(lambda db: queries.integration_summary(db, name, integration.inbound_type))
        url = ""
        if g.viewer.admin:  # the token is the URL's only secret: admins only
            token = integration.config.token.get_secret_value() if integration.config.token else None
            if token is None:
                token = await runtime.store.read(lambda db: _stored_token(db, name))
            url = integration_url(runtime.config, token) if token else ""
        rules = integration.config.rules
        if rules is None:
            rules = getattr(integration.inbound_type, "rulesets", {}).get(integration.ruleset_name)
        return {
            "name": name,
            "integration": integration,
            "url": url,
            "masked_url": f"{runtime.config.public_url}/in/" + "•" * 12,
            "rules": json.dumps(rules, indent=2, default=str, ensure_ascii=False) if rules else "",
            **summary,
        }

    @bp.get("/integrations")
    @logged_in
    async def integration_list() -> Response:
        items = [await integration_info(name) for name in runtime.config.integrations]
        return page("integrations.html", items=items)

    async def integration_page(name: str, **extra: Any) -> Response:
        if name not in runtime.config.integrations:
            return problem(404, f"no integration named {name[:64]!r}")
        return page("integration.html", item=await integration_info(name), **extra)

    @bp.get("/integrations/<name>")
    @logged_in
    async def integration_show(name: str) -> Response:
        return await integration_page(name, sample="", result=None)

    @bp.post("/integrations/<name>/test")
    @logged_in
    async def integration_test(name: str) -> Response:
        if name not in runtime.config.integrations:
            return problem(404, f"no integration named {name[:64]!r}")
        form = await request.form
        limit = runtime.config.raw.server.max_body_bytes
        sample = form.get("sample", "")
        if not sample.strip():
            raise BadInput("paste a sample message to test")
        if len(sample.encode()) > limit:
            raise BadInput(f"the sample must be at most {limit} bytes (server.max_body_bytes)")
        assume = _choice(form, "assume", ("open", "acknowledged"), None)
        result = await run_dry(name, sample.encode(), assume)
        return await integration_page(name, sample=sample, result=result)

    # --- maintenance windows, heartbeats, workflows -----------------------------------------

    @bp.get("/maintenance")
    @logged_in
    async def maintenance_page() -> Response:
        from alertd import maintenance_windows
        from alertd.cli_maintenance import applies_to

        now = runtime.clock.now()
        windows = await runtime.store.read(lambda db: maintenance_windows.listing(db, now))
        for window in windows:
            window["applies_to"] = applies_to(window)
        return page(
            "maintenance.html",
            windows=windows,
            done=_field(request.args, "done", 40),
            integrations=list(runtime.config.integrations),
            zone_name=str(g.viewer.zone),
            max_minutes=maintenance_windows.MAX_WINDOW_SECONDS // 60,
            max_reason=maintenance_windows.MAX_REASON_CHARS,
        )

    @bp.post("/maintenance")
    @logged_in
    async def maintenance_add() -> Response:
        from alertd.http.maintenance_api import store_window
        from alertd.web.maintenance_form import window_from_form

        refused = admin_only()
        if refused is not None:
            return refused
        now, actor = runtime.clock.now(), g.viewer.user  # g is not reachable from the writer thread
        try:
            args = window_from_form(await request.form, g.viewer.zone, runtime.config.integrations, now)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        row = await runtime.store.write(lambda db: store_window(db, args, actor, now))
        window_id = row["id"] if row else 0
        log.info("web.maintenance_added", user=actor, window_id=window_id)
        return redirect(f"/maintenance?done=%23{window_id}+added", 303)

    @bp.post("/maintenance/<window_ref>/end")
    @logged_in
    async def maintenance_end(window_ref: str) -> Response:
        from alertd import maintenance_windows

        refused = admin_only()
        if refused is not None:
            return refused
        window_id = _id(window_ref, "the window id")
        now, actor = runtime.clock.now(), g.viewer.user

        def job(db: Any) -> str | None:
            row = maintenance_windows.get(db, window_id)
            if row is None:
                return f"no maintenance window #{window_id}"
            if row["ended_at"] is not None:
                return f"maintenance window #{window_id} has already ended"
            maintenance_windows.end(db, window_id, now, actor)
            return None

        refusal = await runtime.store.write(job)
        if refusal is not None:
            return problem(404 if refusal.startswith("no ") else 409, refusal)
        log.info("web.maintenance_ended", user=actor, window_id=window_id)
        return redirect(f"/maintenance?done=%23{window_id}+ended", 303)

    @bp.get("/heartbeats")
    @logged_in
    async def heartbeats_page() -> Response:
        from alertd import heartbeats

        raw = runtime.config.raw
        beats = await runtime.store.read(lambda db: queries.heartbeat_rows(db, raw))
        if g.viewer.admin and beats:  # the token is the URL's only secret: admins only
            tokens = await runtime.store.read(lambda db: queries.heartbeat_tokens(db, raw))
            for beat in beats:
                if beat["name"] in tokens:
                    beat["url"] = heartbeats.heartbeat_url(runtime.config, tokens[beat["name"]])
        return page("heartbeats.html", beats=beats, masked_url=f"{runtime.config.public_url}/hb/" + "•" * 12)

    @bp.get("/workflows")
    @logged_in
    async def workflows_page() -> Response:
        from alertd import workflows

        raw = runtime.config.raw
        items = await runtime.store.read(lambda db: workflows.listing(db, raw))
        return page("workflows.html", items=items)

    # --- on call and people --------------------------------------------------------------

    @bp.get("/oncall")
    @logged_in
    async def oncall_page() -> Response:
        now = datetime.fromtimestamp(runtime.clock.now(), UTC)
        return page(
            "oncall.html",
            schedules=await trio.to_thread.run_sync(directory.on_call, runtime.config.raw, now),
            policies=directory.policies(runtime.config.raw),
            how_reached=how_reached,
        )

    @bp.get("/oncall/<name>")
    @logged_in
    async def schedule_page(name: str) -> Response:
        schedule = runtime.config.raw.schedules.get(name)
        if schedule is None:
            return problem(404, f"no schedule named {name[:64]!r}")
        days = int(_choice(request.args, "days", ("7", "14", "28"), str(SCHEDULE_DAYS)) or SCHEDULE_DAYS)
        now = datetime.fromtimestamp(runtime.clock.now(), UTC)
        end = now + timedelta(days=days)
        shifts = await trio.to_thread.run_sync(oncall.shifts_between, schedule, now, end)
        span = (end - now).total_seconds()
        bars = [
            {
                "shift": s,
                "left": round(100 * (s.start - now).total_seconds() / span, 2),
                "width": max(0.3, round(100 * (s.end - s.start).total_seconds() / span, 2)),
            }
            for s in shifts
        ]
        ical = runtime.services.get("ical_tokens", {}).get(name)
        ical_url = f"{runtime.config.public_url}/schedules/{name}.ics?token={ical}" if ical else ""
        return page(
            "schedule.html", name=name, schedule=schedule, bars=bars, days=days, ical_url=ical_url, start=now, end=end
        )

    @bp.get("/people")
    @logged_in
    async def people() -> Response:
        return page("people.html", users=directory.users(runtime.config.raw), groups=runtime.config.raw.groups)

    @bp.get("/people/<name>")
    @logged_in
    async def person(name: str) -> Response:
        user = runtime.config.raw.users.get(name)
        if user is None:
            return problem(404, f"no user named {name[:64]!r}")
        now = datetime.fromtimestamp(runtime.clock.now(), UTC)
        end = now + timedelta(days=SCHEDULE_DAYS)

        def shifts() -> list[tuple[str, oncall.Shift]]:
            return [
                (sname, s)
                for sname, sched in runtime.config.raw.schedules.items()
                for s in oncall.shifts_between(sched, now, end)
                if s.user == name
            ]

        mine = await trio.to_thread.run_sync(shifts)
        rows = await runtime.store.read(lambda db: queries.user_alerts(db, name))
        return page("person.html", name=name, person=user, shifts=mine, alerts=rows)

    return bp


# The files under static/ that are served, with their types: nothing else is.
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


@lru_cache(maxsize=len(STATIC))
def _static_file(name: str) -> bytes:
    from importlib.resources import files

    return (files("alertd.web") / "static" / name).read_bytes()


def _stored_token(db: Any, name: str) -> str | None:
    from alertd.integrations import META_PREFIX

    row = db.execute("SELECT value FROM meta WHERE key = ?", [META_PREFIX + name]).fetchone()
    return None if row is None else row[0]


OUTCOMES = (
    mapping.MAPPED_OPEN,
    mapping.MAPPED_APPENDED,
    mapping.MAPPED_ACKNOWLEDGED,
    mapping.MAPPED_CLOSED,
    mapping.FILTERED,
    mapping.UNMAPPED,
    mapping.SUBSCRIPTION_CONFIRMATION,
    mapping.UNSUBSCRIBE_CONFIRMATION,
    mapping.REJECTED,
    mapping.DUPLICATE_DELIVERY,
)
