"""``config.quick_tables`` (``[store]`` and ``[users]`` without pydantic, for the CLI's read and act
commands) cannot drift from the models, which stay the single source of truth: over good and bad
values of every field it covers, whatever it accepts the models accept with the same values, and
every value of the field's own TOML type gets the same verdict from both. What it refuses goes to
the models, which word the error (tests/test_cli_broken_config.py checks the CLI's messages)."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import ValidationError

from alertd.config.models import NotifyStep, RawConfig, StoreConfig, UserConfig
from alertd.config.problems import ConfigError
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
    """The quick check's named tuples as the models' ``model_dump`` has them: dicts and lists."""
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
