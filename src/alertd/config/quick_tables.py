"""``[store]`` and ``[users]`` (and ``[server]``, ``[schedules]``) checked without pydantic: the CLI's
read and act commands (issue 15).

``alertd alerts``, ``alerts show``, ``inbound-log``, ``ack`` and ``close`` use only the first two
tables, ``alertd oncall`` all four, and importing pydantic with the models takes longer than the rest
of such a call (validating 1,000 schedules too). This check accepts what is plainly valid (each value
of its TOML type within the bounds of ``StoreConfig``, ``UserConfig``, ``NotifyStep``,
``ServerConfig``, ``ApiToken``, ``ScheduleConfig``, ``LayerConfig``, ``Restriction`` and
``OverrideConfig``, no unknown key) and makes the same values the models make;
anything else (a bad value, but also one the models would convert, such as ``"5"`` for a number)
returns None, and the caller validates with the models (``config.subset``), which word every error
exactly as ``check-config`` does and keep the final say. So this module can only be slower than
the models, never more lenient or differently worded: ``tests/test_config_quick_tables.py`` checks
over good and bad values of every field that the two agree, and that every field is covered.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from alertd.config.reading import read_toml
from alertd.kinds import kind_problem
from alertd.shifts import valid_shift
from alertd.weekdays import WEEKDAYS

if TYPE_CHECKING:
    from alertd.config.resolved import Config

# The bounds of config/models.py (tests/test_config_quick_tables.py tries values around them on both).
MAX_CONTACTS = 20
MAX_CONTACT_CHARS = 1024
MAX_NOTIFY_STEPS = 100
MAX_API_TOKENS = 100
MIN_SECRET_CHARS = 32
# ServerConfig's and ApiToken's patterns (the test compares them with the models'), matched on
# printable ASCII only, where pydantic's regex engine and re agree (\d and \s are Unicode classes,
# and re counts more control characters as \s): other text goes to the models.
LISTEN_RE = r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$"
PUBLIC_URL_RE = r"^https?://[^/\s]+(/[^\s]*)?$"
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_MAX_INT = 2**63 - 1  # beyond: the models decide


# Named tuples: read-only like the models, and made in a tenth of a frozen dataclass's time.


class StoreSettings(NamedTuple):
    """``StoreConfig``'s fields and defaults."""

    path: Path = Path("alertd.db")
    synchronous: str = "FULL"
    inbound_retention_days: float = 30
    reply_receipt_retention_days: float = 365
    busy_timeout_seconds: float = 5
    max_size_mb: float | None = None
    # A PostgreSQL url is a SecretStr with its own checks: the models decide a file that sets one.
    url: None = None
    pool_size: int = 4


class NotifyStepSettings(NamedTuple):
    method: str
    after_minutes: float = 0


class UserSettings(NamedTuple):
    """``UserConfig``'s fields and defaults."""

    full_name: str | None = None
    admin: bool = False
    timezone: str = "UTC"
    contact: dict[str, str] = {}  # a shared default: _user gives each user a dict of its own
    notify: list[NotifyStepSettings] | None = None


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


class StoreAndUsers(NamedTuple):
    """The two tables, as ``Config.raw`` offers them (any other table: AttributeError)."""

    store: StoreSettings
    users: dict[str, UserSettings]


class ScheduleTables(NamedTuple):
    """What ``alertd oncall`` reads, as ``Config.raw`` offers it (any other table: AttributeError)."""

    store: StoreSettings
    users: dict[str, UserSettings]
    server: ServerSettings
    schedules: dict[str, ScheduleSettings]


class QuickTables(NamedTuple):
    """What a read or act command uses of ``Config``: the file's path, ``raw``, ``db_path``
    (``public_url`` with ``[server]``)."""

    path: Path
    raw: StoreAndUsers | ScheduleTables

    @property
    def db_path(self) -> Path:
        # As Config.resolve_path: relative to the config file's directory.
        path = self.raw.store.path
        return path if path.is_absolute() else self.path.parent / path

    @property
    def public_url(self) -> str:
        server = self.raw.server  # type: ignore[union-attr]
        return server.public_url.rstrip("/") if server.public_url else f"http://{server.listen}"


class _Refused(Exception):
    """Not plainly valid: the models decide (and say why)."""


def _number(value: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None) -> float:
    # A TOML integer or float only (the models also take a bool or a numeric string: they decide those).
    if type(value) not in (int, float):
        raise _Refused
    try:
        number = float(value)
    except OverflowError:
        raise _Refused from None
    if math.isnan(number) or (gt is not None and not number > gt) or (ge is not None and not number >= ge):
        raise _Refused
    if le is not None and not number <= le:
        raise _Refused
    return number


def _string(value: Any, max_chars: int | None = None) -> str:
    if type(value) is not str or (max_chars is not None and len(value) > max_chars):
        raise _Refused
    return value


def _table(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if type(value) is not dict or not value.keys() <= allowed:
        raise _Refused
    return value


def _zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _string(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _Refused from None
    return name


def _kind(value: Any) -> str:
    if kind_problem(value) is not None:
        raise _Refused
    return value  # type: ignore[no-any-return]


_STORE_KEYS = frozenset(StoreSettings._fields)
_USER_KEYS = frozenset(UserSettings._fields)
_STEP_KEYS = frozenset(NotifyStepSettings._fields)
_STORE_BOUNDS: dict[str, dict[str, float]] = {
    "inbound_retention_days": {"gt": 0},
    "reply_receipt_retention_days": {"ge": 30, "le": 3650},
    "busy_timeout_seconds": {"gt": 0, "le": 300},
    "max_size_mb": {"gt": 0},
}


def _store(value: Any) -> StoreSettings:
    table = _table(value, _STORE_KEYS)
    if "url" in table:
        raise _Refused
    out: dict[str, Any] = {}
    if "path" in table:
        out["path"] = Path(_string(table["path"]))
    if "synchronous" in table:
        if type(table["synchronous"]) is not str or table["synchronous"] not in ("FULL", "NORMAL"):
            raise _Refused
        out["synchronous"] = table["synchronous"]
    for key, bound in _STORE_BOUNDS.items():
        if key in table:
            out[key] = _number(table[key], **bound)
    if "pool_size" in table:
        if type(table["pool_size"]) is not int or not 1 <= table["pool_size"] <= 64:
            raise _Refused
        out["pool_size"] = table["pool_size"]
    return StoreSettings(**out)


def _step(value: Any) -> NotifyStepSettings:
    table = _table(value, _STEP_KEYS)
    if "method" not in table:
        raise _Refused
    after = _number(table["after_minutes"], ge=0) if "after_minutes" in table else 0
    return NotifyStepSettings(method=_kind(table["method"]), after_minutes=after)


def _user(value: Any) -> UserSettings:
    table = _table(value, _USER_KEYS)
    out: dict[str, Any] = {"contact": {}}
    if "full_name" in table:
        out["full_name"] = _string(table["full_name"])
    if "admin" in table:
        if type(table["admin"]) is not bool:
            raise _Refused
        out["admin"] = table["admin"]
    if "timezone" in table:
        out["timezone"] = _zone(table["timezone"])
    if "contact" in table:
        contact = table["contact"]
        if type(contact) is not dict or len(contact) > MAX_CONTACTS:
            raise _Refused
        out["contact"] = {_kind(kind): _string(address, MAX_CONTACT_CHARS) for kind, address in contact.items()}
    if "notify" in table:
        steps = table["notify"]
        if type(steps) is not list or len(steps) > MAX_NOTIFY_STEPS:
            raise _Refused
        out["notify"] = [_step(step) for step in steps]
    return UserSettings(**out)


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


def check_store_and_users(data: dict[str, Any]) -> StoreAndUsers | None:
    """``[store]`` and ``[users]`` of the parsed file when plainly valid, else None (the models
    decide). Other tables are not looked at; ``data`` is not changed."""
    try:
        store = _store(data["store"]) if "store" in data else StoreSettings()
        users = data.get("users", {})
        if type(users) is not dict:
            raise _Refused
        return StoreAndUsers(store=store, users={name: _user(entry) for name, entry in users.items()})
    except _Refused:
        return None


# The tables a command may ask for beyond [store] and [users], and the check that makes them.
QUICK_SETS = {(): check_store_and_users, ("server", "schedules"): check_schedule_tables}


def read_quick_tables(path: str | Path, more: tuple[str, ...] = ()) -> QuickTables | Config:
    """The file at ``path`` with ``[store]``, ``[users]`` and ``more`` (a key of ``QUICK_SETS``)
    checked: without pydantic when they are plainly valid, else by the models (``config.subset``:
    ConfigError naming each problem)."""
    path = Path(path).absolute()
    data = read_toml(path)
    checked = QUICK_SETS[more](data)
    if checked is not None:
        return QuickTables(path=path, raw=checked)
    from alertd.config.subset import read_tables

    return read_tables(path, ("store", "users", *more), data)


def read_store_and_users(path: str | Path) -> QuickTables | Config:
    """``read_quick_tables`` of ``[store]`` and ``[users]``."""
    return read_quick_tables(path)
