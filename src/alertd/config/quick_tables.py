"""``[store]`` and ``[users]`` checked without pydantic: the CLI's read and act commands (issue 15).

``alertd alerts``, ``alerts show``, ``inbound-log``, ``ack`` and ``close`` use only these two tables
(``alertd oncall`` also ``[server]`` and ``[schedules]``: ``config.quick_schedules``, built on this
module), and importing pydantic with the models takes longer than the rest of such a call. This check
accepts what is plainly valid (each value of its TOML type within the bounds of ``StoreConfig``,
``UserConfig`` and ``NotifyStep``, no unknown key) and makes the same values the models make;
anything else (a bad value, but also one the models would convert, such as ``"5"`` for a number)
returns None, and the caller validates with the models (``config.subset``), which word every error
exactly as ``check-config`` does and keep the final say. So this module can only be slower than
the models, never more lenient or differently worded: ``tests/test_config_quick_tables.py`` checks
over good and bad values of every field that the two agree, and that every field is covered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from alertd.config.reading import parse_source, read_source
from alertd.kinds import kind_problem

if TYPE_CHECKING:
    from alertd.config.resolved import Config

# The bounds of config/models.py (tests/test_config_quick_tables.py tries values around them on both).
MAX_CONTACTS = 20
MAX_CONTACT_CHARS = 1024
MAX_NOTIFY_STEPS = 100


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


class StoreAndUsers(NamedTuple):
    """The two tables, as ``Config.raw`` offers them (any other table: AttributeError)."""

    store: StoreSettings
    users: dict[str, UserSettings]


class QuickTables(NamedTuple):
    """What a read or act command uses of ``Config``: the file's path, ``raw``, ``db_path``
    (``public_url`` with ``[server]``)."""

    path: Path
    raw: StoreAndUsers  # or config.quick_schedules.ScheduleTables (the same two tables, and two more)

    @property
    def db_path(self) -> Path:
        # As Config.resolve_path: relative to the config file's directory.
        path = self.raw.store.path
        return path if path.is_absolute() else self.path.parent / path

    @property
    def public_url(self) -> str:
        server = self.raw.server  # type: ignore[attr-defined]  # ScheduleTables only
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


def read_quick(path: str | Path, more: tuple[str, ...], check: Callable[[dict[str, Any]], Any]) -> QuickTables | Config:
    """The file at ``path`` with ``[store]``, ``[users]`` and ``more`` checked by ``check`` (None: not
    plainly valid): without pydantic when they are plainly valid, else by the models
    (``config.subset``: ConfigError naming each problem). Plainly valid tables are kept for the
    next call with the same bytes (``config.quick_cache``: no parse then)."""
    from alertd.config import quick_cache

    path = Path(path).absolute()
    source = read_source(path)
    tables = ",".join(more) or "store,users"
    digest = quick_cache.digest_of(source)
    kept = quick_cache.lookup(path, tables, digest)
    if kept is not None:
        return QuickTables(path=path, raw=kept)
    data = parse_source(path, source)
    checked = check(data)
    if checked is not None:
        quick_cache.save(path, tables, digest, checked)
        return QuickTables(path=path, raw=checked)
    from alertd.config.subset import read_tables

    return read_tables(path, ("store", "users", *more), data)


def read_store_and_users(path: str | Path) -> QuickTables | Config:
    """The file at ``path`` with ``[store]`` and ``[users]`` checked (``read_quick``)."""
    return read_quick(path, (), check_store_and_users)
