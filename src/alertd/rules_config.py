"""The shape of a ruleset in ``alertd.toml`` (pydantic models, validated with the config).

Compiling a ruleset (``alertd.mapping.compile_ruleset``) needs jinja2 and regex; validating
its shape does not, so the config models import this module only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alertd.durations import parse_duration

# As alertd.filterpattern.MAX_PATTERN_CHARS (tests/test_mapping.py checks they agree).
MAX_PATTERN_CHARS = 1024

Scalar = str | int | float | bool


class RulesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Condition(RulesModel):
    field: str | None = None
    equals: Scalar | list[Scalar] | None = None
    contains: str | None = None
    regex: str | None = None
    exists: bool | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    filter_pattern: str | None = Field(None, max_length=MAX_PATTERN_CHARS)
    ignore_case: bool = False
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")


MAX_WINDOW_SECONDS = 7 * 86400
MAX_QUIET_SECONDS = 30 * 86400


class ThresholdConfig(RulesModel):
    """Open only at the count-th match of the open rule within the window, per group."""

    count: int = Field(ge=1, le=10_000)
    within: str
    # A field path or a template; default: the source id (one count per alert to be).
    group_by: str | None = Field(None, max_length=1000)

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        parse_duration(value, least=1, most=MAX_WINDOW_SECONDS)
        return value


class RulesetConfig(RulesModel):
    source_id: str
    filter: Condition | None = None
    open_when: Condition | None = None
    close_when: Condition | None = None
    ack_when: Condition | None = None
    title: str = "{{ source_id }}"
    description: str | None = None
    severity: str = "critical"
    url: str | None = None
    tags: list[str] = []
    fields: dict[str, str] = {}
    threshold: ThresholdConfig | None = None
    # Close the alert when no message matched its open rule for this long (a stored timer).
    close_after_quiet: str | None = None

    @field_validator("close_after_quiet")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value, least=1, most=MAX_QUIET_SECONDS)
        return value


class RulesetError(Exception):
    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
