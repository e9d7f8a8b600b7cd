"""``/act/{token}``: the page behind a signed action link (GET asks, POST does)."""

from __future__ import annotations

import html

from quart import Blueprint, Response

from alertd import alerts, links
from alertd.commands import AlertCommandError, actor_problem, apply_command
from alertd.runtime import Runtime

VERBS = {"ack": "Acknowledge", "close": "Close"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>alertd</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}
button{{font-size:1.2em;padding:.5em 1.5em}}</style></head>
<body><h1>{heading}</h1><p>{text}</p>{form}</body></html>
"""


def page(heading: str, text: str, form: str = "", status: int = 200) -> Response:
    body = PAGE.format(heading=html.escape(heading), text=html.escape(text), form=form)
    return Response(
        body,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def actions_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("actions", __name__)

    def secret() -> bytes:
        return runtime.services["links_secret"]

    def usable(token: str, now: float) -> links.Action | Response:
        """The action a link grants, or the page refusing it (bad, expired, or its user no longer configured)."""
        try:
            action = links.verify(secret(), token, now)
        except links.LinkError as exc:
            return page("Link not usable", str(exc), status=403)
        problem = actor_problem(runtime.config.raw, action.user)
        if problem is not None:
            return page("Link not usable", problem, status=403)
        return action

    @bp.get("/act/<token>")
    async def confirm(token: str) -> Response:
        action = usable(token, runtime.clock.now())
        if isinstance(action, Response):
            return action
        alert = await runtime.store.read(lambda db: alerts.get(db, action.alert_id))
        if alert is None:
            return page("Unknown alert", f"There is no alert #{action.alert_id}.", status=404)
        verb = VERBS[action.action]
        # No action attribute: the form posts to this page's own URL, whatever path prefix
        # a reverse proxy adds in front of /act/ (server.public_url may carry one).
        form = f'<form method="post"><button type="submit">{verb} alert #{action.alert_id}</button></form>'
        return page(
            f"{verb} alert #{action.alert_id}?",
            f"{alert['title']} (currently {alert['status']}; you are {action.user})",
            form,
        )

    @bp.post("/act/<token>")
    async def act(token: str) -> Response:
        now = runtime.clock.now()
        action = usable(token, now)
        if isinstance(action, Response):
            return action

        def job(db: object) -> dict:
            links.mark_used(db, action, now)  # type: ignore[arg-type]
            return apply_command(db, action.action, action.alert_id, action.user, "link", now)  # type: ignore[arg-type]

        try:
            alert = await runtime.store.write(job)
        except links.LinkError as exc:
            return page("Link not usable", str(exc), status=409)
        except AlertCommandError as exc:
            return page("Nothing to do", str(exc), status=exc.status)
        done = "acknowledged" if action.action == "ack" else "closed"
        return page(f"Alert #{action.alert_id} {done}", f"{alert['title']}: {done} by {action.user}.")

    return bp
