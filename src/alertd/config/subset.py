"""Checking only the tables a command uses: the CLI's read and act commands (issue 15).

``alertd alerts``, ``ack`` or ``oncall`` need ``[store]`` and ``[users]`` (and ``[schedules]``,
``[server]`` for ``oncall``), and an operator types them during an incident: checking the whole file
means building every model (workflows, integrations, escalation policies ...) and validating every
table, most of the command's time. Here the file is parsed whole (it must be valid TOML) and only the
named tables are validated, with ``RawConfig``'s own fields (same models, same bounds), so their
errors read exactly as ``check-config``'s: file, key path, what was expected. Everything else
(other tables, unknown keys, references between tables) is left to ``check-config`` and ``run``.
"""

from __future__ import annotations

from copy import copy
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from alertd.config.models import RawConfig
from alertd.config.problems import ConfigError, problems_from_validation
from alertd.config.reading import read_toml
from alertd.config.resolved import Config


@cache
def subset_model(tables: tuple[str, ...]) -> type[BaseModel]:
    """A model of ``tables`` only, each field as ``RawConfig`` declares it; other keys are ignored."""
    fields: dict[str, Any] = {}
    for name in tables:
        field = RawConfig.model_fields[name]
        fields[name] = (field.annotation, copy(field))
    return create_model(  # type: ignore[no-any-return, call-overload]
        "RawConfigSubset", __config__=ConfigDict(extra="ignore", frozen=True), **fields
    )


def read_tables(path: str | Path, tables: tuple[str, ...], data: dict[str, Any] | None = None) -> Config:
    """The file at ``path`` (``data``: already parsed) with only ``tables`` validated; ConfigError
    naming each problem in them.

    ``raw`` holds only those tables: reading another one is an AttributeError, never a default
    that silently differs from the file."""
    path = Path(path).absolute()
    if data is None:
        data = read_toml(path)
    model = subset_model(tables)
    try:
        raw = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, problems_from_validation(exc, model=RawConfig)) from None
    return Config(path=path, raw=raw)  # type: ignore[arg-type]
