"""``[server]`` and ``[schedules]`` checked without pydantic, beside ``[store]`` and ``[users]``
(``config.quick_tables``): what ``alertd oncall`` reads (issue 15).

Importing pydantic and the models, and validating 1,000 schedules, took most of an ``alertd oncall``.
As ``config.quick_tables`` (whose rules hold here too), this check accepts only what is plainly valid
(each value of its own TOML type within the bounds of ``ServerConfig``, ``ApiToken``,
``ScheduleConfig``, ``LayerConfig``, ``Restriction`` and ``OverrideConfig``, no unknown key) and makes
the values the models make; anything else goes to the models, which decide and word the error.
Every schedule is checked, not only the one asked for: the command refuses what it refused with the
models. ``tests/test_config_quick_tables.py`` checks the agreement over good and bad values of every
field. A module of its own so that the listings, ``ack`` and ``close`` do not import it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from alertd.config.quick_tables import (
    QuickTables,
    StoreSettings,
    UserSettings,
    _number,
    _Refused,
    _string,
    _table,
    _zone,
    check_store_and_users,
    read_quick,
)
from alertd.shifts import valid_shift
from alertd.weekdays import WEEKDAYS

if TYPE_CHECKING:
    from alertd.config.resolved import Config

MAX_API_TOKENS = 100
MIN_SECRET_CHARS = 32
# ServerConfig's and ApiToken's patterns (the test compares them with the models'), matched on
# printable ASCII only, where pydantic's regex engine and re agree (\d and \s are Unicode classes,
# and re counts more control characters as \s): other text goes to the models.
LISTEN_RE = r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$"
PUBLIC_URL_RE = r"^https?://[^/\s]+(/[^\s]*)?$"
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_MAX_INT = 2**63 - 1  # beyond: the models decide


class Secret:
    """A secret as pydantic's ``SecretStr`` offers it: ``get_secret_value()``, masked in a repr."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ApiTokenSettings(NamedTuple):
    name: str
    token: Secret


class ServerSettings(NamedTuple):
    """``ServerConfig``'s fields and defaults."""

    listen: str = "127.0.0.1:8080"
    public_url: str | None = None
    max_body_bytes: int = 288 * 1024
    graceful_timeout: float = 10.0
    body_timeout: float = 10.0
    max_inbound_in_flight: int = 100
    ingest_processes: int = 0
    api_tokens: list[ApiTokenSettings] = []  # a shared default: _server gives each a list of its own


class RestrictionSettings(NamedTuple):
    days: list[str] = list(WEEKDAYS)  # a shared default: _restriction gives each a list of its own
    start: time = time(0, 0)
    end: time = time(0, 0)


class LayerSettings(NamedTuple):
    """``LayerConfig``'s fields and defaults (``users`` is required: _layer always sets it)."""

    name: str | None = None
    users: list[str] = []
    shift: str = "1w"
    handoff: time = time(9, 0)
    start: date = date(2026, 1, 5)
    restrictions: list[RestrictionSettings] = []


class OverrideSettings(NamedTuple):
    user: str
    start: datetime
    end: datetime


class ScheduleSettings(NamedTuple):
    """``ScheduleConfig``'s fields and defaults (``layers`` is required: _schedule always sets it)."""

    timezone: str = "UTC"
    layers: list[LayerSettings] = []
    overrides: list[OverrideSettings] = []
    ical_token: Secret | None = None


class ScheduleTables(NamedTuple):
    """What ``alertd oncall`` reads, as ``Config.raw`` offers it (any other table: AttributeError)."""

    store: StoreSettings
    users: dict[str, UserSettings]
    server: ServerSettings
    schedules: dict[str, ScheduleSettings]


def _integer(value: Any, low: int, high: int = _MAX_INT) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _Refused
    return value


def _matching(value: Any, pattern: str, max_chars: int | None = None) -> str:
    text = _string(value, max_chars)
    if not (text.isascii() and text.isprintable()) or re.fullmatch(pattern, text) is None:
        raise _Refused
    return text


def _list(value: Any, min_items: int = 0, max_items: int | None = None) -> list[Any]:
    if type(value) is not list or len(value) < min_items or (max_items is not None and len(value) > max_items):
        raise _Refused
    return value


def _exactly(value: Any, kind: type) -> Any:
    # TOML's own date and time types only (the models also convert strings: they decide those).
    if type(value) is not kind:
        raise _Refused
    return value


def _api_token(value: Any, index: int) -> ApiTokenSettings:
    # ServerConfig names a plain string token-1, token-2 ... by its place in the list.
    table = {"name": f"token-{index}", "token": value} if type(value) is str else _table(value, _TOKEN_KEYS)
    if table.keys() != _TOKEN_KEYS:
        raise _Refused
    token = _string(table["token"])
    if not 16 <= len(token) <= 256:
        raise _Refused
    return ApiTokenSettings(name=_matching(table["name"], NAME_RE, 64), token=Secret(token))


_TOKEN_KEYS = frozenset(ApiTokenSettings._fields)
_SERVER_KEYS = frozenset(ServerSettings._fields)
_SCHEDULE_KEYS = frozenset(ScheduleSettings._fields)
_LAYER_KEYS = frozenset(LayerSettings._fields)
_RESTRICTION_KEYS = frozenset(RestrictionSettings._fields)
_OVERRIDE_KEYS = frozenset(OverrideSettings._fields)


def _server(value: Any) -> ServerSettings:
    table = _table(value, _SERVER_KEYS)
    out: dict[str, Any] = {"api_tokens": []}
    if "listen" in table:
        out["listen"] = _matching(table["listen"], LISTEN_RE)
    if "public_url" in table:
        out["public_url"] = _matching(table["public_url"], PUBLIC_URL_RE)
    if "max_body_bytes" in table:
        out["max_body_bytes"] = _integer(table["max_body_bytes"], 1024)
    if "graceful_timeout" in table:
        out["graceful_timeout"] = _number(table["graceful_timeout"], gt=0)
    if "body_timeout" in table:
        out["body_timeout"] = _number(table["body_timeout"], gt=0, le=300)
    if "max_inbound_in_flight" in table:
        out["max_inbound_in_flight"] = _integer(table["max_inbound_in_flight"], 1, 10_000)
    if "ingest_processes" in table:
        out["ingest_processes"] = _integer(table["ingest_processes"], 0, 8)
    if "api_tokens" in table:
        tokens = _list(table["api_tokens"], max_items=MAX_API_TOKENS)
        out["api_tokens"] = [_api_token(token, i) for i, token in enumerate(tokens, 1)]
        if len({token.name for token in out["api_tokens"]}) != len(tokens):
            raise _Refused
    return ServerSettings(**out)


def _restriction(value: Any) -> RestrictionSettings:
    table = _table(value, _RESTRICTION_KEYS)
    out: dict[str, Any] = {"days": list(WEEKDAYS)}
    if "days" in table:
        out["days"] = _list(table["days"])
        if not all(type(day) is str and day in WEEKDAYS for day in out["days"]):
            raise _Refused
    for key in ("start", "end"):
        if key in table:
            out[key] = _exactly(table[key], time)
    return RestrictionSettings(**out)


def _layer(value: Any) -> LayerSettings:
    table = _table(value, _LAYER_KEYS)
    if "users" not in table:
        raise _Refused
    out: dict[str, Any] = {"users": [_string(user) for user in _list(table["users"], min_items=1)]}
    if "name" in table:
        out["name"] = _string(table["name"])
    if "shift" in table:
        if not valid_shift(_string(table["shift"])):
            raise _Refused
        out["shift"] = table["shift"]
    if "handoff" in table:
        out["handoff"] = _exactly(table["handoff"], time)
    if "start" in table:
        out["start"] = _exactly(table["start"], date)
    if "restrictions" in table:
        out["restrictions"] = [_restriction(item) for item in _list(table["restrictions"])]
    return LayerSettings(**out)


def _override(value: Any) -> OverrideSettings:
    table = _table(value, _OVERRIDE_KEYS)
    if table.keys() != _OVERRIDE_KEYS:
        raise _Refused
    return OverrideSettings(
        user=_string(table["user"]), start=_exactly(table["start"], datetime), end=_exactly(table["end"], datetime)
    )


def _schedule(value: Any) -> ScheduleSettings:
    table = _table(value, _SCHEDULE_KEYS)
    if "layers" not in table:
        raise _Refused
    out: dict[str, Any] = {"layers": [_layer(layer) for layer in _list(table["layers"], min_items=1)]}
    if "timezone" in table:
        out["timezone"] = _zone(table["timezone"])
    if "overrides" in table:
        out["overrides"] = [_override(item) for item in _list(table["overrides"])]
    if "ical_token" in table:
        token = _string(table["ical_token"])
        if len(token) < MIN_SECRET_CHARS:
            raise _Refused
        out["ical_token"] = Secret(token)
    return ScheduleSettings(**out)


def _entries(data: dict[str, Any], key: str, entry: Any) -> dict[str, Any]:
    table = data.get(key, {})
    if type(table) is not dict:
        raise _Refused
    return {name: entry(value) for name, value in table.items()}


def check_schedule_tables(data: dict[str, Any]) -> ScheduleTables | None:
    """``[store]``, ``[users]``, ``[server]`` and ``[schedules]`` of the parsed file when plainly
    valid, else None (the models decide); as ``check_store_and_users``."""
    first = check_store_and_users(data)
    if first is None:
        return None
    try:
        server = _server(data["server"]) if "server" in data else ServerSettings()
        return ScheduleTables(*first, server=server, schedules=_entries(data, "schedules", _schedule))
    except _Refused:
        return None


def read_schedule_tables(path: str | Path) -> QuickTables | Config:
    """The file at ``path`` with ``[store]``, ``[users]``, ``[server]`` and ``[schedules]`` checked:
    without pydantic when plainly valid, else by the models (``quick_tables.read_quick``)."""
    return read_quick(path, ("server", "schedules"), check_schedule_tables)
