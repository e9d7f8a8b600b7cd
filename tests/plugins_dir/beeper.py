"""A third-party-style pager channel for tests: contact kind ``beep``, which alertd's core has never heard of.

Loaded through ``plugins_dir`` and written like a plugin outside this repository: it imports only
``alertd.plugin`` (and quart, pydantic, httpx). It shows the two things a channel tells the core
without the core knowing its provider:

- ``closure_notices = False``: nobody is beeped to hear that an alert closed;
- its provider's delivery reports (``POST /beeper/status`` with ``{"id": ..., "status": ...}``,
  bearer-token protected like the API) use the provider's own words (``heard``, ``lost``,
  ``ignored``, ``paging``), which the plugin translates into neutral ``DeliveryState`` values
  before it reports them with ``report_delivery_status``.

``send`` posts ``{"to": <address>, "text": ..., "id": <notification id>}`` to ``[channels.beeper] url``
(in the tests a local HTTP server) and names the provider's message ``beep-<notification id>``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, Response, request

from alertd.plugin import (
    DeliveryResult,
    DeliveryState,
    Notification,
    Runtime,
    error,
    hookimpl,
    post,
    report_delivery_status,
    requires_token,
)

__version__ = "1.0"

NAME = "beeper"
# The provider's words, as the core's neutral states (the plugin owns this table, not the core).
BEEPER_STATES = {
    "heard": DeliveryState.DELIVERED,
    "lost": DeliveryState.FAILED,
    "ignored": DeliveryState.UNANSWERED,
    "paging": DeliveryState.ACCEPTED,
}
MAX_BODY = 4096


class BeeperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://[^/\s]+(/[^\s]*)?$", max_length=2048)


class BeeperChannel:
    name = NAME
    kinds = ("beep",)
    config_model = BeeperSettings
    concurrency = 2
    closure_notices = False

    async def send(self, notification: Notification, settings: BeeperSettings, runtime: object) -> DeliveryResult:
        body = {"to": notification.address, "text": notification.subject, "id": notification.id}
        return await post(
            httpx.URL(settings.url),
            json=body,
            headers={"Idempotency-Key": notification.idempotency_key},
            timeout=10,
            who="Beeper",
            provider_id=lambda _response: f"beep-{notification.id}",
        )


@hookimpl
def alertd_channels() -> list[object]:
    return [BeeperChannel()]


@hookimpl
def alertd_register_routes(runtime: Runtime) -> list[Any]:
    bp = Blueprint("beeper", __name__, url_prefix="/beeper")

    @bp.post("/status")
    @requires_token(runtime)
    async def status() -> Response:
        data = await request.get_data()
        if len(data) > MAX_BODY:
            return error(413, f"the body is over {MAX_BODY} bytes")
        try:
            report = json.loads(data)
        except ValueError:
            return error(400, "expected a JSON object")
        if not isinstance(report, dict):
            return error(400, "expected a JSON object")
        sid, word = report.get("id"), report.get("status")
        if not isinstance(sid, str) or not 0 < len(sid) <= 64 or word not in BEEPER_STATES:
            return error(400, f"expected an id and a status out of {', '.join(BEEPER_STATES)}")
        raw, now = runtime.config.raw, runtime.clock.now()
        state = BEEPER_STATES[word]
        await runtime.store.write(
            lambda db: report_delivery_status(db, raw, NAME, sid, state, f"Beeper reported {word}", now)
        )
        return Response("", status=204)

    return [bp]
