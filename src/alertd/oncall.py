"""Who is on call at time t: schedules, layers, restrictions, overrides (pure).

Everything here is a pure function of a :class:`~alertd.config.ScheduleConfig`
and the instants passed in: no I/O and no reads of the current time. Instants
passed in must be aware datetimes (any zone); instants returned are aware
datetimes in UTC (so that ``end - start`` is real elapsed time; use
``.astimezone(zone)`` to show them). Local times are computed in the
schedule's IANA ``timezone`` with :mod:`zoneinfo`.

Semantics
---------

Local times that name an instant (layer handoffs, restriction boundaries,
naive override times) are turned into instants with zoneinfo's ``fold=0``
rule:

* a local time that does not exist (the spring-forward gap) is read with the
  offset in force before the gap, which normalizes it *forward*: 02:30 on
  2026-03-08 in America/New_York is 03:30 EDT;
* a local time that happens twice (the fall-back overlap) is its *first*
  occurrence: 01:30 on 2026-11-01 in America/New_York is 01:30 EDT.

Rotation of a layer
    The first shift starts on the layer's ``start`` date at its ``handoff``
    local time with ``users[0]``; shift ``k`` belongs to
    ``users[k % len(users)]``.

    * ``<n>d`` / ``<n>w`` shifts are measured in calendar days of local wall
      time: shift ``k`` starts on ``start + k * n days`` (``7 * n`` for weeks)
      at ``handoff`` local time. A daily 09:00 handoff stays at 09:00 across
      both DST transitions, so the shift containing a transition is an hour
      shorter or longer in real time (23h or 25h for a daily rotation).
    * ``<n>h`` shifts are measured in real elapsed time: shift ``k`` starts
      exactly ``k * n`` hours after the first handoff instant. A 12h rotation
      is always 12 real hours, so after a DST transition its handoffs fall on
      a wall-clock time one hour off the configured one (09:00/21:00 EST
      becomes 10:00/22:00 EDT). This is deliberate: hour-based rotations are
      about equal work time, and they keep their real length.

    The shift index is computed arithmetically (local calendar days between
    the start date and the local date of t, or elapsed seconds), never by
    walking the shifts since ``start``.

Before start
    A layer takes effect at its first handoff: before ``start`` at
    ``handoff`` the layer is inactive, exactly as if restricted out, so lower
    layers (or nobody) answer. This lets a new rotation be scheduled in the
    future by adding a higher layer with a future ``start``.

Restrictions
    With no restrictions a layer is always active (from its start). Otherwise
    it is active at t only inside one of its restriction windows. A
    restriction makes one window per listed day: from ``start`` on that day
    to ``end`` on the same day when ``end > start``, otherwise to ``end`` on
    the next day. So an end of 00:00 means midnight at the end of the day
    (the default restriction, 00:00-00:00, is the whole day), an end before
    the start wraps past midnight (``days`` names the day the window
    starts on: a ``fri`` 22:00-06:00 window covers Friday 22:00 to Saturday
    06:00), and an end equal to the start makes a 24-hour window. Window
    boundaries are instants resolved with the gap/fold rules above, so a
    window is ``start <= t < end`` in real time; away from the skipped or
    repeated hour of a DST transition this is exactly "the local time of t
    is in [start, end)". Windows that become empty on a DST day (02:00-03:00
    on a spring-forward day) are dropped; overlapping or touching windows
    merge.

Layers and overrides
    Later layers take precedence ("higher layer wins"): the on-call user at
    t comes from the last layer in the list that is active at t (one user
    per layer). Overrides beat every layer: if an override covers t
    (``start <= t < end``) its user is on call; of several covering
    overrides the one listed last wins. Naive override times are local times
    in the schedule's zone read with the gap/fold rules above (as TOML gives
    them; a Python caller's explicit ``fold=1`` is honoured, as zoneinfo
    does), aware ones are used as given; overrides with ``end <= start`` are
    ignored. If no override covers t and every layer is inactive, nobody is
    on call.

Answers
    An answer is a :class:`Shift`: the user, the ``source`` that put them on
    call (``"layer 1 (nights)"``, ``"layer 0"`` for an unnamed layer,
    ``"override 2"``, indices as in the config lists), and the interval
    ``[start, end)`` over which that (user, source) answer holds unchanged.
    ``end`` is the next time the answer changes: the earliest of the end of
    the user's current run of shifts (consecutive shifts of the same user
    count as one run), the end of the current restriction window, the
    moment a higher layer becomes active, and the next override start or
    end that changes the answer; ``start`` is the latest such moment at or
    before t. The one exception: a layer whose users are all the same user
    reports its individual shift boundaries (it would otherwise never end);
    :func:`shifts_between` merges those pieces.

iCalendar
    :func:`to_ical` exports the :func:`shifts_between` timeline as one VEVENT
    per shift, DTSTART/DTEND in UTC with the shift's true start and end (also
    for the shifts the window cuts), with UIDs that stay the same when the
    exported window moves.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from alertd.shifts import SHIFT_RE
from alertd.weekdays import WEEKDAYS

if TYPE_CHECKING:  # or config.quick_tables' twins (alertd oncall): the same fields, no pydantic
    from alertd.config import LayerConfig, ScheduleConfig

__all__ = ["Shift", "layer_source", "next_change", "on_call_at", "override_source", "shifts_between", "to_ical"]

PRODID = "-//alertd//oncall//EN"

# Restriction windows are looked up in the local days around t. Every window
# starts on a listed weekday, so if a layer has any window at all there is one
# starting within any 7 consecutive days; +-9 days always finds the windows
# before and after t. A merged run of windows that lasts 8 days or more can
# only come from a weekly pattern without a gap: the layer is always active.
_SCAN_DAYS = 9
_ALWAYS = timedelta(days=8)


def layer_source(index: int, layer: LayerConfig) -> str:
    """How a shift of the layer at ``index`` names its source ("layer 0 (weekdays)")."""
    return f"layer {index} ({layer.name})" if layer.name else f"layer {index}"


def override_source(index: int) -> str:
    return f"override {index}"


@dataclass(frozen=True)
class Shift:
    """``user`` is on call from ``start`` (inclusive) to ``end`` (exclusive), put there by ``source``."""

    user: str
    start: datetime
    end: datetime
    source: str


def _utc(value: datetime, what: str = "instant") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected an aware datetime for the {what}; found naive {value.isoformat()}")
    return value.astimezone(UTC)


def _wall(at: time) -> time:
    """``at`` as ``_resolve`` takes it: naive, fold=0 (gaps move forward, overlaps take the first)."""
    return at.replace(tzinfo=None, fold=0)


def _resolve(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant of wall time ``at`` (made by ``_wall``: once per layer, not per day) on ``day``."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two lower bounds; None is minus infinity."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two upper bounds; None is plus infinity."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b


class _Layer:
    """One layer, prepared for repeated questions; caches live as long as one public call."""

    def __init__(self, index: int, config: LayerConfig, zone: ZoneInfo) -> None:
        self.source = layer_source(index, config)
        self.users = list(config.users)
        self.uniform = len(set(self.users)) == 1
        self.zone = zone
        match = SHIFT_RE.match(config.shift)
        if match is None:  # the config model validates this already
            raise ValueError(f"bad shift length {config.shift!r}")
        count, unit = int(match.group(1)), match.group(2)
        self.hours: timedelta | None = timedelta(hours=count) if unit == "h" else None
        self.days = count * 7 if unit == "w" else count
        self.start_day = config.start
        self.handoff = _wall(config.handoff)
        self.epoch = _resolve(self.start_day, self.handoff, zone)
        self.restrictions = [
            (
                frozenset(WEEKDAYS.index(day) for day in r.days),
                _wall(r.start),
                _wall(r.end),
            )
            for r in config.restrictions
        ]
        self._bounds: dict[int, datetime] = {}
        self._day_windows: dict[date, list[tuple[datetime, datetime]]] = {}
        self._merged: dict[date, tuple[list[datetime], list[datetime]] | None] = {}

    # --- rotation -------------------------------------------------------------

    def boundary(self, k: int) -> datetime:
        """The instant shift ``k`` starts (shift 0 starts at the epoch)."""
        if self.hours is not None:
            return self.epoch + self.hours * k
        value = self._bounds.get(k)
        if value is None:
            day = self.start_day + timedelta(days=self.days * k)
            value = self._bounds[k] = _resolve(day, self.handoff, self.zone)
        return value

    def shift_index(self, t: datetime) -> int:
        if self.hours is not None:
            return (t - self.epoch) // self.hours
        local_day = t.astimezone(self.zone).date()
        k = (local_day - self.start_day).days // self.days
        # The local date is within a day of the shift's start date; at most a step or two to fix.
        while t < self.boundary(k):
            k -= 1
        while t >= self.boundary(k + 1):
            k += 1
        return k

    def run(self, k: int) -> tuple[datetime, datetime]:
        """Start and end of the run of consecutive shifts held by the user of shift ``k``."""
        if self.uniform:
            return self.boundary(k), self.boundary(k + 1)
        n = len(self.users)
        user = self.users[k % n]
        lo = k
        while lo > 0 and self.users[(lo - 1) % n] == user:
            lo -= 1
        hi = k + 1
        while self.users[hi % n] == user:
            hi += 1
        return self.boundary(lo), self.boundary(hi)

    # --- restrictions ---------------------------------------------------------

    def windows_starting(self, day: date) -> list[tuple[datetime, datetime]]:
        cached = self._day_windows.get(day)
        if cached is not None:
            return cached
        out = []
        weekday = day.weekday()
        for days, start, end in self.restrictions:
            if weekday in days:
                lo = _resolve(day, start, self.zone)
                hi = _resolve(day if end > start else day + timedelta(days=1), end, self.zone)
                if hi > lo:
                    out.append((lo, hi))
        self._day_windows[day] = out
        return out

    def merged_windows(self, local_day: date) -> tuple[list[datetime], list[datetime]] | None:
        """Merged windows near ``local_day`` as (starts, ends); None if the layer is never restricted out."""
        if local_day in self._merged:
            return self._merged[local_day]
        raw = sorted(
            window
            for offset in range(-_SCAN_DAYS, _SCAN_DAYS + 1)
            for window in self.windows_starting(local_day + timedelta(days=offset))
        )
        starts: list[datetime] = []
        ends: list[datetime] = []
        for lo, hi in raw:
            if ends and lo <= ends[-1]:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        result: tuple[list[datetime], list[datetime]] | None = (starts, ends)
        if any(hi - lo >= _ALWAYS for lo, hi in zip(starts, ends, strict=True)):
            result = None
        self._merged[local_day] = result
        return result

    def window_state(self, t: datetime) -> tuple[bool, datetime | None, datetime | None]:
        """(inside a window, start of the window or gap, its end); None bounds are infinite."""
        merged = self.merged_windows(t.astimezone(self.zone).date())
        if merged is None:
            return True, None, None
        starts, ends = merged
        if not starts:
            return False, None, None
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t < ends[i]:
            return True, starts[i], ends[i]
        prev_end = ends[i] if i >= 0 else None
        next_start = starts[i + 1] if i + 1 < len(starts) else None
        return False, prev_end, next_start

    # --- both -----------------------------------------------------------------

    def state(self, t: datetime) -> tuple[str | None, datetime | None, datetime | None]:
        """(user or None if inactive, start, end) of the layer's constant answer around ``t``."""
        if t < self.epoch:
            if not self.restrictions:
                return None, None, self.epoch
            active, _, next_start = self.window_state(self.epoch)
            return None, None, self.epoch if active else next_start
        lo = hi = None
        if self.restrictions:
            active, lo, hi = self.window_state(t)
            if not active:
                # Before the epoch the layer is inactive anyway: the gap reaches back forever.
                if lo is not None and lo <= self.epoch:
                    lo = None
                return None, lo, hi
        k = self.shift_index(t)
        run_start, run_end = self.run(k)
        return self.users[k % len(self.users)], _max(lo, run_start), _min(hi, run_end)


@dataclass
class _Override:
    index: int
    user: str
    start: datetime
    end: datetime


class _Schedule:
    def __init__(self, schedule: ScheduleConfig) -> None:
        self.zone = ZoneInfo(schedule.timezone)
        self.layers = [_Layer(i, layer, self.zone) for i, layer in enumerate(schedule.layers)]
        self.overrides: list[_Override] = []
        for i, override in enumerate(schedule.overrides):
            start, end = self.instant(override.start), self.instant(override.end)
            if end > start:
                self.overrides.append(_Override(i, override.user, start, end))

    def instant(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=self.zone).astimezone(UTC)
        return value.astimezone(UTC)

    def evaluate(self, t: datetime) -> tuple[str | None, str | None, datetime | None, datetime | None]:
        """(user, source, start, end) of the answer at UTC instant ``t``; None bounds are infinite."""
        cover = None
        for pos, override in enumerate(self.overrides):
            if override.start <= t < override.end:
                cover = pos
        if cover is not None:
            winner = self.overrides[cover]
            start, end = winner.start, winner.end
            for later in self.overrides[cover + 1 :]:
                if t < later.start < end:
                    end = later.start
                if start < later.end <= t:
                    start = later.end
            return winner.user, override_source(winner.index), start, end

        lo: datetime | None = None
        hi: datetime | None = None
        for override in self.overrides:
            if override.end <= t:
                lo = _max(lo, override.end)
            else:  # it starts after t, since none covers t
                hi = _min(hi, override.start)
        for layer in reversed(self.layers):
            user, layer_lo, layer_hi = layer.state(t)
            lo, hi = _max(lo, layer_lo), _min(hi, layer_hi)
            if user is not None:
                return user, layer.source, lo, hi
        return None, None, lo, hi

    def pieces(self, lo: datetime, hi: datetime) -> Iterator[tuple[str | None, str | None, datetime, datetime]]:
        t = lo
        while t < hi:
            user, source, _, end = self.evaluate(t)
            stop = hi if end is None or end > hi else end
            yield user, source, t, stop
            t = stop

    def shifts(self, lo: datetime, hi: datetime, limit: int | None = None) -> list[Shift]:
        """The merged shifts in ``[lo, hi)``; with ``limit``, only the first ``limit`` of them
        (the pieces after the last one kept are never computed, so the work is bounded too)."""
        out: list[Shift] = []
        for user, source, start, end in self.pieces(lo, hi):
            if user is None or source is None:
                continue
            last = out[-1] if out else None
            if last is not None and last.user == user and last.source == source and last.end == start:
                out[-1] = Shift(user, last.start, end, source)
            elif limit is not None and len(out) >= limit:
                break
            else:
                out.append(Shift(user, start, end, source))
        return out


def on_call_at(schedule: ScheduleConfig, at: datetime) -> Shift | None:
    """Who is on call at ``at``, from when and until when; None when nobody is."""
    user, source, start, end = _Schedule(schedule).evaluate(_utc(at))
    if user is None:
        return None
    # Somebody on call always has a finite start (a shift, window or override start) and end.
    assert source is not None and start is not None and end is not None
    return Shift(user, start, end, source)


def next_change(schedule: ScheduleConfig, at: datetime) -> datetime | None:
    """The first instant after ``at`` at which the answer of :func:`on_call_at` changes.

    Also defined when nobody is on call at ``at``; None when the answer never changes.
    """
    return _Schedule(schedule).evaluate(_utc(at))[3]


def shifts_between(schedule: ScheduleConfig, start: datetime, end: datetime) -> list[Shift]:
    """The final timeline in ``[start, end)``, in order, clipped; gaps are times nobody is on call.

    Consecutive pieces with the same user and source are merged.
    """
    return _Schedule(schedule).shifts(_utc(start, "start"), _utc(end, "end"))


def _uid(name: str, shift: Shift, start: datetime) -> str:
    import hashlib  # only for a feed: `alertd oncall` answers without loading OpenSSL

    key = f"{name}\0{shift.user}\0{shift.source}\0{start.isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@alertd"


_TICK = timedelta(microseconds=1)


# How many pieces beyond the window's edge a clipped shift is followed (a rotation of one user
# hands off to that user again each period: a year of hourly pieces is still cut somewhere).
_MAX_EDGE_PIECES = 10_000


def _true_bounds(compiled: _Schedule, shift: Shift, lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """The real start and end of a shift that the window ``[lo, hi)`` clipped: the merged shift,
    as ``shifts`` would merge it over a wider window. Pieces end at every handoff, restriction
    edge or override bound, even where the same user stays on call by the same source (one user
    in a rotation), so walk back and forward while that holds."""

    def same(t: datetime) -> tuple[datetime | None, datetime | None] | None:
        user, source, start, end = compiled.evaluate(t)
        return (start, end) if (user, source) == (shift.user, shift.source) else None

    start, end = shift.start, shift.end
    if start == lo:
        for _ in range(_MAX_EDGE_PIECES):
            piece = same(start - _TICK)
            if piece is None or piece[0] is None:
                break
            start = piece[0]
    if end == hi:
        for _ in range(_MAX_EDGE_PIECES):
            piece = same(end)
            if piece is None or piece[1] is None:
                break
            end = piece[1]
    return start, end


def to_ical(
    name: str,
    schedule: ScheduleConfig,
    start: datetime,
    end: datetime,
    user_names: dict[str, str] | None = None,
    *,
    stamp: datetime | None = None,
    max_events: int | None = None,
) -> bytes:
    """An iCalendar (RFC 5545) feed with one VEVENT per shift of :func:`shifts_between`.

    Every shift that overlaps ``[start, end)`` is exported with its true start and end
    (the shift on call at ``start`` began at its handoff, not at the window's edge).
    Times are in UTC. The UID of an event hashes the schedule name, user, source
    and the shift's start, so re-exporting a moving window keeps the UIDs. DTSTAMP is
    ``stamp`` (default: ``start``) since this function does not read the clock.
    At most ``max_events`` events (the earliest ones) when given.
    """
    lo, hi = _utc(start, "start"), _utc(end, "end")
    compiled = _Schedule(schedule)
    names = user_names or {}
    from icalendar import Calendar, Event  # only to build a feed, not to answer who is on call

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"On call: {name}")
    dtstamp = _utc(stamp, "stamp") if stamp is not None else lo
    for shift in compiled.shifts(lo, hi, limit=max_events):
        shift_start, shift_end = _true_bounds(compiled, shift, lo, hi)
        event = Event()
        event.add("uid", _uid(name, shift, shift_start))
        event.add("dtstamp", dtstamp)
        event.add("dtstart", shift_start)
        event.add("dtend", shift_end)
        event.add("summary", f"On call: {names.get(shift.user, shift.user)} ({name})")
        event.add("description", f"{shift.user} via {shift.source}")
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal.to_ical()
