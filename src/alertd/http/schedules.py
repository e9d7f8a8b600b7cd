"""``GET /schedules/{name}.ics?token=...``: a schedule's shifts as an iCalendar feed.

Building a long feed is CPU work (a year of 1-hour shifts is thousands of events), so it
runs in a worker thread, one build at a time, and the result is cached per schedule,
window length and config version (a reload makes new feeds). The window is aligned to
the hour, so a calendar client polling every few minutes gets the cached body.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from quart import Blueprint, Response, request

from alertd.log import get_logger
from alertd.oncall import to_ical
from alertd.runtime import Runtime

log = get_logger("alertd.ical")

DEFAULT_WEEKS = 8
MAX_WEEKS = 52
# At most this many events per feed (the earliest ones): 52 weeks of 4-hour shifts fit,
# a year of 1-hour shifts is cut after about 15 weeks. Bounds the build time and the body.
MAX_EVENTS = 2500
# Feeds kept in memory (least recently used dropped first): at most about 10 MB.
CACHE_SIZE = 16
# The feed starts this long before the hour it was built in, so a shift in progress shows.
LOOKBACK = timedelta(days=1)


class FeedCache:
    """Built feeds by (schedule, weeks, hour of the window); forgotten when the config changes."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.config: Any = None
        self.entries: OrderedDict[tuple[str, int, datetime], bytes] = OrderedDict()
        self.lock = trio.Lock()
        self.builds = 0

    def cached(self, config: Any, key: tuple[str, int, datetime]) -> bytes | None:
        if config is not self.config:
            self.config, self.entries = config, OrderedDict()
        body = self.entries.get(key)
        if body is not None:
            self.entries.move_to_end(key)
        return body

    async def get(self, runtime: Runtime, name: str, weeks: int, now: datetime) -> bytes:
        hour = now.replace(minute=0, second=0, microsecond=0)
        key = (name, weeks, hour)
        body = self.cached(runtime.config, key)
        if body is not None:
            return body
        # One build at a time: a fetch of a cached feed does not wait; concurrent fetches of the
        # same new feed wait for the first build and take its result.
        async with self.lock:
            config = runtime.config
            body = self.cached(config, key)
            if body is not None:
                return body
            raw = config.raw
            names = {user: cfg.full_name or user for user, cfg in raw.users.items()}
            schedule = raw.schedules[name]

            def build() -> bytes:
                return to_ical(
                    name,
                    schedule,
                    hour - LOOKBACK,
                    hour + timedelta(weeks=weeks),
                    names,
                    stamp=hour,
                    max_events=MAX_EVENTS,
                )

            started = time.monotonic()
            body = await trio.to_thread.run_sync(build)
            self.builds += 1
            log.info(
                "ical.built",
                schedule=name,
                weeks=weeks,
                bytes=len(body),
                seconds=round(time.monotonic() - started, 3),
            )
            if config is self.config:
                self.entries[key] = body
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
            return body


def schedules_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("schedules", __name__)
    cache = runtime.services.setdefault("ical_feeds", FeedCache())

    @bp.get("/schedules/<name>.ics")
    async def ical(name: str) -> Response:
        tokens: dict[str, str] = runtime.services.get("ical_tokens", {})
        expected = tokens.get(name)
        presented = request.args.get("token", "")
        # An unknown schedule and a wrong token look the same to the caller.
        if expected is None or not hmac.compare_digest(expected.encode(), presented.encode()):
            return Response("unknown schedule or wrong token\n", status=404, content_type="text/plain")
        if name not in runtime.config.raw.schedules:
            return Response("unknown schedule or wrong token\n", status=404, content_type="text/plain")
        weeks = request.args.get("weeks", str(DEFAULT_WEEKS))
        if not (weeks.isascii() and weeks.isdigit() and len(weeks) <= 2) or not 1 <= int(weeks) <= MAX_WEEKS:
            return Response(f"weeks must be 1 to {MAX_WEEKS}\n", status=400, content_type="text/plain")
        now = datetime.fromtimestamp(runtime.clock.now(), UTC)
        body = await cache.get(runtime, name, int(weeks), now)
        return Response(
            body,
            content_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{name}.ics"', "Cache-Control": "no-store"},
        )

    return bp
