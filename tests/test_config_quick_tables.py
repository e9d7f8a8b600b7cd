"""``config.quick_tables`` (``[store]`` and ``[users]``, and ``[server]``, ``[schedules]`` for
``alertd oncall``, without pydantic: the CLI's read and act commands) cannot drift from the models,
which stay the single source of truth: over good and bad values of every field it covers, whatever
it accepts the models accept with the same values, and every value of the field's own TOML type gets
the same verdict from both. What it refuses goes to the models, which word the error
(tests/test_cli_broken_config.py checks the CLI's messages)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import SecretStr, ValidationError

from alertd.config.models import (
    ApiToken,
    LayerConfig,
    NotifyStep,
    OverrideConfig,
    RawConfig,
    Restriction,
    ScheduleConfig,
    ServerConfig,
    StoreConfig,
    UserConfig,
)
from alertd.config.problems import ConfigError
from alertd.config.quick_schedules import (
    LISTEN_RE,
    NAME_RE,
    PUBLIC_URL_RE,
    ApiTokenSettings,
    LayerSettings,
    OverrideSettings,
    RestrictionSettings,
    ScheduleSettings,
    Secret,
    ServerSettings,
    check_schedule_tables,
    read_schedule_tables,
)
from alertd.config.quick_tables import (
    NotifyStepSettings,
    QuickTables,
    StoreSettings,
    UserSettings,
    check_store_and_users,
    read_store_and_users,
)
from alertd.config.subset import read_tables, subset_model

MODEL = subset_model(("store", "users"))


def models_verdict(data: dict[str, Any]) -> dict[str, Any] | None:
    """The tables as the models make them (plain data), or None when they refuse."""
    try:
        return MODEL.model_validate(data).model_dump()  # type: ignore[no-any-return]
    except ValidationError:
        return None


def plain(value: Any) -> Any:
    """The quick check's named tuples as the models' ``model_dump`` has them: dicts and lists
    (secrets of both as their values)."""
    if isinstance(value, Secret | SecretStr):
        return value.get_secret_value()
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return [plain(item) for item in value] if isinstance(value, list) else value


def quick_verdict(data: dict[str, Any]) -> dict[str, Any] | None:
    checked = check_store_and_users(data)
    return None if checked is None else plain(checked)  # type: ignore[no-any-return]


def agree(data: dict[str, Any], *, same_type: bool) -> None:
    """Accepted by the quick check: accepted by the models, same values. ``same_type`` (the value is
    of the field's own TOML type): also refused by the models when the quick check refuses."""
    quick, models = quick_verdict(data), models_verdict(data)
    if quick is not None:
        assert models == quick, data
    elif same_type:
        assert models is None, (data, models)


def bounds(model: type, name: str) -> list[float]:
    """Values at and around each numeric bound the model declares for the field."""
    out: list[float] = []
    for meta in model.model_fields[name].metadata:  # type: ignore[attr-defined]
        for attr in ("gt", "ge", "lt", "le"):
            bound = getattr(meta, attr, None)
            if isinstance(meta, annotated_types.BaseMetadata) and bound is not None:
                out += [bound - 1, bound - 1e-9, bound, bound + 1e-9, bound + 1]
    return out


NUMBERS: list[Any] = [0, 1, -1, 0.5, 5, 29, 30, 300, 301, 3650, 3651, 10**9, 2**63 - 1, -(2**63), 1e308]
NUMBERS += [math.inf, -math.inf, math.nan, 0.0, -0.0]
STRINGS = ["", "x", "FULL", "NORMAL", "full", " FULL", "5", "1e3", "true", "alertd.db", "/var/lib/a.db", "a\0b"]
STRINGS += ["UTC", "Europe/Berlin", "Mars/Olympus", "utc", "../../etc/passwd", "UTC\n", "Etc/GMT+5", "/UTC"]
STRINGS += ["email", "sms", "Email", "email\n", "1email", "e-mail_2", "a" * 32, "a" * 33, "x" * 1024, "x" * 1025]
BOOLS = [True, False]
OTHERS: list[Any] = [[], ["x"], {}, {"a": 1}, date(2026, 1, 5), datetime(2026, 1, 5, 9), time(9)]
EVERY = [*NUMBERS, *STRINGS, *BOOLS, *OTHERS]
LENGTHS = [0, 1, 10, 19, 20, 21, 50, 99, 100, 101]


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"


# Each field's TOML type: a value of it must get the same verdict from both.
STORE_TYPES = {
    "path": "string",
    "synchronous": "string",
    "inbound_retention_days": "number",
    "reply_receipt_retention_days": "number",
    "busy_timeout_seconds": "number",
    "max_size_mb": "number",
    "pool_size": "integer",
    "url": "secret",  # the quick check refuses every url: the models decide (SecretStr, its own checks)
}
USER_TYPES = {"full_name": "string", "admin": "bool", "timezone": "string"}


def test_every_field_of_the_models_is_covered_with_their_defaults() -> None:
    # A field added to a model must be added here too (until then the quick check refuses the key
    # and the models decide: correct, only slower); the defaults are the models'.
    assert RawConfig.model_fields["store"].annotation is StoreConfig
    assert RawConfig.model_fields["users"].annotation == dict[str, UserConfig]
    for quick, model in ((StoreSettings, StoreConfig), (UserSettings, UserConfig), (NotifyStepSettings, NotifyStep)):
        assert list(quick._fields) == list(model.model_fields), quick
    assert plain(StoreSettings()) == StoreConfig().model_dump()
    assert plain(UserSettings()) == UserConfig().model_dump()
    assert plain(NotifyStepSettings(method="email")) == NotifyStep(method="email").model_dump()
    assert set(STORE_TYPES) == set(StoreConfig.model_fields)


@pytest.mark.parametrize("name", sorted(STORE_TYPES))
def test_store_fields_agree_with_the_models(name: str) -> None:
    for value in [*EVERY, *bounds(StoreConfig, name)]:
        own_type = kind(value) == STORE_TYPES[name] or (STORE_TYPES[name] == "integer" and type(value) is int)
        agree({"store": {name: value}}, same_type=own_type)


@pytest.mark.parametrize("name", sorted(USER_TYPES))
def test_user_fields_agree_with_the_models(name: str) -> None:
    for value in EVERY:
        agree({"users": {"alice": {name: value}}}, same_type=kind(value) == USER_TYPES[name])


def test_contacts_agree_with_the_models() -> None:
    def user(contact: Any) -> dict[str, Any]:
        return {"users": {"alice": {"contact": contact}}}

    for value in EVERY:  # an address of every kind of value, and a contact kind of every string
        agree(user({"email": value}), same_type=kind(value) == "string")
        agree(user(value), same_type=False)
    for text in STRINGS:
        agree(user({text: "alice@example.com"}), same_type=True)
    for count in LENGTHS:
        agree(user({f"k{i}": "x" for i in range(count)}), same_type=True)


def test_notification_steps_agree_with_the_models() -> None:
    def user(notify: Any) -> dict[str, Any]:
        return {"users": {"alice": {"contact": {"email": "a@example.com"}, "notify": notify}}}

    for value in [*EVERY, *bounds(NotifyStep, "after_minutes")]:
        agree(user([{"method": "email", "after_minutes": value}]), same_type=kind(value) == "number")
        agree(user([{"method": value}]), same_type=kind(value) == "string")
        agree(user(value), same_type=False)
        agree(user([value]), same_type=False)
    for count in LENGTHS:
        agree(user([{"method": "email", "after_minutes": i} for i in range(count)]), same_type=True)
    for step in ({}, {"after_minutes": 1}, {"method": "email", "delay": 1}):
        agree(user([step]), same_type=True)


def test_tables_and_entries_agree_with_the_models() -> None:
    good_user = {"full_name": "Alice", "admin": True, "timezone": "Europe/Berlin", "contact": {"sms": "+1555"}}
    cases: list[dict[str, Any]] = [
        {},
        {"store": {}, "users": {}},
        {"store": {"path": "a.db", "synchronous": "NORMAL", "busy_timeout_seconds": 30, "max_size_mb": 512.5}},
        {"users": {"alice": good_user, "bob": {}}},
        {"users": {"alice": {**good_user, "notify": [{"method": "sms"}, {"method": "sms", "after_minutes": 5}]}}},
        {"store": {"unknown": 1}},
        {"users": {"alice": {**good_user, "unknown": 1}}},
        {"server": {"listen": "nonsense"}, "workflows": {"x": 1}},  # other tables: not looked at
    ]
    plain = cases[:5] + cases[-1:]
    cases += [{"store": value} for value in EVERY] + [{"users": value} for value in EVERY]
    cases += [{"users": {"alice": value}} for value in EVERY]
    for data in cases:
        agree(data, same_type=True)
    # The quick check really is the common path: a plain file is accepted without the models.
    for data in plain:
        assert check_store_and_users(data) is not None, data


def test_the_file_read_quick_or_by_the_models(tmp_path: Path) -> None:
    # What the CLI gets: the quick tables for a plain file (db_path as Config's), else the models'
    # Config, or their ConfigError word for word.
    path = tmp_path / "alertd.toml"
    path.write_text('[store]\npath = "data/a.db"\n[users.alice]\ncontact = { email = "a@example.com" }\n')
    quick = read_store_and_users(path)
    assert isinstance(quick, QuickTables)
    models = read_tables(path, ("store", "users"))
    assert quick.path == models.path and quick.db_path == models.db_path == tmp_path / "data" / "a.db"
    assert plain(quick.raw) == models.raw.model_dump()  # type: ignore[attr-defined]

    path.write_text('[store]\nbusy_timeout_seconds = "5"\n')  # a conversion only the models make
    converted = read_store_and_users(path)
    assert not isinstance(converted, QuickTables) and converted.raw.store.busy_timeout_seconds == 5.0

    path.write_text('[store]\nbusy_timeout_seconds = 301\n[users.alice]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError) as quick_error:
        read_store_and_users(path)
    with pytest.raises(ConfigError) as models_error:
        read_tables(path, ("store", "users"))
    assert str(quick_error.value) == str(models_error.value)
    assert str(quick_error.value).splitlines() == [
        f"{path}: store.busy_timeout_seconds: expected a number <= 300; found number 301",
        f"{path}: users.alice.timezone: expected an IANA time zone name such as Europe/Berlin; found string "
        "'Mars/Olympus'",
    ]


# --- [server] and [schedules]: what `alertd oncall` reads -------------------------------------

ONCALL_MODEL = subset_model(("store", "users", "server", "schedules"))
LAYER = {"users": ["alice"]}


def oncall_agree(data: dict[str, Any], *, same_type: bool) -> None:
    """``agree`` for the four tables of ``alertd oncall`` (secrets compared by value)."""
    quick = check_schedule_tables(data)
    try:
        models = plain(ONCALL_MODEL.model_validate(data).model_dump())
    except ValidationError:
        models = None
    if quick is not None:
        assert models == plain(quick), data
    elif same_type:
        assert models is None, (data, models)


def toml_kind(value: Any) -> str:
    for kind_type, name in ((datetime, "datetime"), (date, "date"), (time, "time")):
        if type(value) is kind_type:
            return name
    return kind(value)


TIMES: list[Any] = [time(0), time(9), time(23, 59, 59, 999999), time(9, fold=1), date(2026, 1, 5), date(1, 1, 1)]
TIMES += [datetime(2026, 11, 1, 1, 30), datetime(2026, 3, 8, 2, 30), datetime(2026, 1, 1, tzinfo=UTC)]
TIMES += ["09:00", "2026-01-05", "2026-01-05T09:00:00", "9"]
SERVER_STRINGS = ["127.0.0.1:8080", "[::1]:80", ":80", "host:123456", "a b:80", "h\u0663:80", "h:8\u0663", "h:80\n"]
SERVER_STRINGS += [
    "http://x",
    "https://x.example/a/b",
    "http://",
    "ftp://x",
    "http://x y",
    "http://x/\u00e9",
    "http://\u00e9",
]
SERVER_STRINGS += ["http://x/\x1c", "http://x\x1f/"]
TOKENS = ["a" * 15, "a" * 16, "a" * 256, "a" * 257, "\u00e9" * 16, ""]
SERVER_TYPES = {
    "listen": "string",
    "public_url": "string",
    "max_body_bytes": "integer",
    "graceful_timeout": "number",
    "body_timeout": "number",
    "max_inbound_in_flight": "integer",
    "ingest_processes": "integer",
    "api_tokens": "other",
}
SCHEDULE_FIELDS = {
    ScheduleConfig: {"timezone": "string", "layers": "other", "overrides": "other", "ical_token": "string"},
    LayerConfig: {"name": "string", "users": "other", "shift": "string", "handoff": "time", "start": "date"},
    Restriction: {"days": "other", "start": "time", "end": "time"},
    OverrideConfig: {"user": "string", "start": "datetime", "end": "datetime"},
}


def test_server_and_schedule_fields_are_covered_with_the_models_defaults_and_patterns() -> None:
    assert RawConfig.model_fields["server"].annotation is ServerConfig
    assert RawConfig.model_fields["schedules"].annotation == dict[str, ScheduleConfig]
    pairs = (
        (ServerSettings, ServerConfig),
        (ApiTokenSettings, ApiToken),
        (ScheduleSettings, ScheduleConfig),
        (LayerSettings, LayerConfig),
        (RestrictionSettings, Restriction),
        (OverrideSettings, OverrideConfig),
    )
    for quick, model in pairs:
        assert list(quick._fields) == list(model.model_fields), quick
    assert set(SERVER_TYPES) == set(ServerConfig.model_fields)
    assert plain(ServerSettings()) == ServerConfig().model_dump()
    assert plain(RestrictionSettings()) == Restriction().model_dump()
    assert plain(LayerSettings(users=["a"])) == LayerConfig(users=["a"]).model_dump()
    layer = LayerConfig(users=["a"])
    assert plain(ScheduleSettings(layers=[LayerSettings(users=["a"])])) == ScheduleConfig(layers=[layer]).model_dump()

    def pattern(model: type, name: str) -> str:
        (found,) = [m.pattern for m in model.model_fields[name].metadata if getattr(m, "pattern", None)]
        return found  # type: ignore[no-any-return]

    assert (pattern(ServerConfig, "listen"), pattern(ServerConfig, "public_url")) == (LISTEN_RE, PUBLIC_URL_RE)
    assert pattern(ApiToken, "name") == NAME_RE


@pytest.mark.parametrize("name", sorted(SERVER_TYPES))
def test_server_fields_agree_with_the_models(name: str) -> None:
    for value in [*EVERY, *SERVER_STRINGS, *TIMES, *bounds(ServerConfig, name), 1023, 1024, 10_000, 10_001]:
        own = toml_kind(value) == SERVER_TYPES[name] or (SERVER_TYPES[name] == "integer" and type(value) is int)
        # A pattern on text beyond printable ASCII (a Unicode digit or space, a control character
        # one regex engine counts as a space): the quick check leaves it to the models.
        own = own and (type(value) is not str or (value.isascii() and value.isprintable()))
        oncall_agree({"server": {name: value}}, same_type=own)


def test_api_tokens_agree_with_the_models() -> None:
    def server(tokens: Any) -> dict[str, Any]:
        return {"server": {"api_tokens": tokens}}

    for token in [*TOKENS, *EVERY]:
        oncall_agree(server([token]), same_type=type(token) is str)
        oncall_agree(server([{"name": "ci", "token": token}]), same_type=type(token) is str)
    for name in [*STRINGS, *SERVER_STRINGS, "token-1", "a" * 64, "a" * 65, "-a", "a-", 5]:
        ascii_text = type(name) is str and name.isascii() and name.isprintable()  # else: the models decide
        oncall_agree(server([{"name": name, "token": "t" * 20}]), same_type=ascii_text)
    for tokens in (
        ["t" * 16, "u" * 16],
        ["t" * 16, {"name": "token-1", "token": "u" * 16}],  # a plain string is token-1: a clash
        ["t" * 16, {"name": "token-2", "token": "u" * 16}],
        [{"name": "a", "token": "t" * 16}, {"name": "a", "token": "u" * 16}],
        [{"name": "a"}],
        [{"token": "t" * 16}],
        [{"name": "a", "token": "t" * 16, "x": 1}],
        ["t" * 16] * 100,
        [f"{i:016d}" for i in range(101)],
    ):
        oncall_agree(server(tokens), same_type=True)


def test_schedule_fields_agree_with_the_models() -> None:
    def schedule(**fields: Any) -> dict[str, Any]:
        return {"schedules": {"primary": {"layers": [LAYER], **fields}}}

    def layer(**fields: Any) -> dict[str, Any]:
        return schedule(layers=[{**LAYER, **fields}])

    def restriction(**fields: Any) -> dict[str, Any]:
        return layer(restrictions=[fields])

    def override(**fields: Any) -> dict[str, Any]:
        base = {"user": "bob", "start": datetime(2026, 1, 1), "end": datetime(2026, 1, 2)}
        return schedule(overrides=[{**base, **fields}])

    shifts = ["1w", "12h", "0d", "00h", "1 d", "1d\n", "\u0661d", "1y", "w", "-1d", "99999999999999999999h"]
    secrets = ["s" * 31, "s" * 32, "\u00e9" * 32, "s" * 1000]
    values = [*EVERY, *TIMES, *shifts, *secrets]
    for model, make in ((ScheduleConfig, schedule), (LayerConfig, layer), (Restriction, restriction)):
        for name, toml_type in SCHEDULE_FIELDS[model].items():
            for value in values:
                oncall_agree(make(**{name: value}), same_type=toml_kind(value) == toml_type)
    for name, toml_type in SCHEDULE_FIELDS[OverrideConfig].items():
        for value in values:
            oncall_agree(override(**{name: value}), same_type=toml_kind(value) == toml_type)
    # Lists and tables of every shape: users, layers, days, restrictions, overrides.
    for value in [*EVERY, *TIMES]:
        oncall_agree(layer(users=[value]), same_type=toml_kind(value) == "string")
        oncall_agree(restriction(days=[value]), same_type=toml_kind(value) == "string")
        for make in (lambda v: schedule(layers=v), lambda v: schedule(layers=[v]), lambda v: layer(restrictions=v)):
            oncall_agree(make(value), same_type=False)
        oncall_agree(layer(restrictions=[value]), same_type=False)
        oncall_agree(schedule(overrides=value), same_type=False)
        oncall_agree(schedule(overrides=[value]), same_type=False)
        oncall_agree({"schedules": value}, same_type=False)
        oncall_agree({"schedules": {"primary": value}}, same_type=False)
        oncall_agree({"server": value}, same_type=False)
    for days in ([], ["mon", "mon"], ["sat", "sun"], list("abc"), ["Mon"], ["mon\n"]):
        oncall_agree(restriction(days=days), same_type=True)
    for data in (
        schedule(layers=[]),
        schedule(layers=[{}]),
        layer(users=[]),
        layer(users=["a", "a", "b"]),
        layer(unknown=1),
        restriction(unknown=1),
        schedule(unknown=1),
        override(unknown=1),
        {"schedules": {"primary": {}}},
        {"schedules": {"primary": {"layers": [LAYER], "overrides": [{"user": "bob"}]}}},
        {"schedules": {}},
        {},
    ):
        oncall_agree(data, same_type=True)


def test_a_plain_schedule_file_is_checked_without_the_models(tmp_path: Path) -> None:
    # The common path, as `alertd oncall` reads it; a value only the models judge goes to them, and
    # a bad one gets their message word for word.
    path = tmp_path / "alertd.toml"
    good = """
[server]
listen = "127.0.0.1:8080"
public_url = "https://alertd.example.com/"
api_tokens = ["0123456789abcdef0123", { name = "ci", token = "fedcba9876543210fedc" }]
[users.alice]
[schedules.primary]
timezone = "Europe/Berlin"
ical_token = "0123456789abcdef0123456789abcdef"
[[schedules.primary.layers]]
name = "weekdays"
users = ["alice", "bob"]
shift = "1d"
handoff = 08:30:00
start = 2026-01-05
restrictions = [{ days = ["mon", "fri"], start = 08:00:00, end = 18:00:00 }]
[[schedules.primary.overrides]]
user = "bob"
start = 2026-11-01T00:30:00
end = 2026-11-01T03:00:00+02:00
"""
    path.write_text(good)
    quick = read_schedule_tables(path)
    assert isinstance(quick, QuickTables)
    models = read_tables(path, ("store", "users", "server", "schedules"))
    assert plain(quick.raw) == plain(models.raw.model_dump())  # type: ignore[attr-defined]
    assert quick.public_url == models.public_url == "https://alertd.example.com"
    assert "0123456789abcdef" not in repr(quick.raw)  # secrets masked as the models mask them

    path.write_text(good.replace("handoff = 08:30:00", 'handoff = "08:30"'))  # a conversion: the models'
    converted = read_schedule_tables(path)
    assert not isinstance(converted, QuickTables)
    assert converted.raw.schedules["primary"].layers[0].handoff == time(8, 30)  # type: ignore[attr-defined]

    path.write_text(good.replace('shift = "1d"', 'shift = "0d"').replace("listen = ", "listen = 5 #"))
    with pytest.raises(ConfigError) as quick_error:
        read_schedule_tables(path)
    with pytest.raises(ConfigError) as models_error:
        read_tables(path, ("store", "users", "server", "schedules"))
    assert str(quick_error.value) == str(models_error.value)
    assert str(quick_error.value).splitlines() == [
        f"{path}: server.listen: expected a string; found number 5",
        f"{path}: schedules.primary.layers[0].shift: expected a shift length like '12h', '1d' or '2w'; "
        "found string '0d'",
    ]
