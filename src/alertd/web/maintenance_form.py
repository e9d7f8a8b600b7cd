"""The console's "add a maintenance window" form, read into the API's model (``NewWindow``) and
checked by the API's ``window_args``: the console and the API accept the same windows.

Times are typed in the viewer's time zone (``<input type="datetime-local">``: no offset);
the end is a time or a number of minutes; the match is the CLI's ``FIELD=VALUE``.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from pydantic import ValidationError

from alertd import maintenance_windows
from alertd.http.api_models import NewWindow
from alertd.http.maintenance_api import validation_reason, window_args

MAX_TIME_CHARS = 40
MAX_MINUTES = maintenance_windows.MAX_WINDOW_SECONDS // 60


def local_epoch(text: str, zone: tzinfo, name: str) -> float:
    """A ``datetime-local`` value (2026-11-28T02:00) in ``zone`` as a unix time; ValueError with the reason."""
    reason = f"{name} must be a date and time like 2026-11-28T02:00 (in your time zone)"
    if len(text) > MAX_TIME_CHARS:
        raise ValueError(reason)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(reason) from None
    if when.tzinfo is not None:
        raise ValueError(reason)
    return when.replace(tzinfo=zone).timestamp()


def window_from_form(form: Any, zone: tzinfo, integrations: dict[str, Any], now: float) -> dict[str, Any]:
    """The arguments of ``maintenance_windows.add`` from the form; ValueError with the reason."""
    chosen = form.getlist("integrations")
    if not chosen:
        raise ValueError("choose at least one integration")
    start_text = (form.get("start") or "").strip()
    end_text = (form.get("end") or "").strip()
    minutes_text = (form.get("minutes") or "").strip()
    if bool(end_text) == bool(minutes_text):
        raise ValueError("give either an end or a number of minutes")
    duration = None
    if minutes_text:
        if not re.fullmatch(r"[0-9]{1,5}", minutes_text) or not 1 <= int(minutes_text) <= MAX_MINUTES:
            raise ValueError(f"minutes must be a whole number from 1 to {MAX_MINUTES} (31 days)")
        duration = int(minutes_text)
    match_text = (form.get("match") or "").strip()
    match = None
    if match_text:
        try:
            match = maintenance_windows.parse_match(match_text)
        except ValueError as exc:
            raise ValueError(f"match: {exc}") from None
    try:
        body = NewWindow(
            integrations=chosen[:101],
            reason=(form.get("reason") or "").strip(),
            start=local_epoch(start_text, zone, "start") if start_text else None,
            end=local_epoch(end_text, zone, "end") if end_text else None,
            duration_minutes=duration,
            match=match,
            on_end=form.get("on_end") or "page",
        )
    except ValidationError as exc:
        raise ValueError(validation_reason(exc)) from None
    args = window_args(body, integrations, now)
    if isinstance(args, str):
        raise ValueError(args)
    return args
