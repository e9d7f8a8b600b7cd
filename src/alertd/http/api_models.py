"""The shapes of /api/v1: request models (they validate) and response models (they describe).

A field's ``description`` is written to finish "NAME must be ...": the API's refusal and the
OpenAPI document say the same thing. Response models allow extra keys: they name what a client
may rely on, and rows may grow columns.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from alertd import maintenance_windows, replay
from alertd.commands import MAX_ID
from alertd.durations import parse_duration
from alertd.http.openapi import Body, Query

MAX_LIMIT = 1000
MAX_NAME = 200
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
WHOLE = "a whole number from 1 to 2^63-1"
Status = Literal["open", "acknowledged", "closed"]


# --- query parameters ---------------------------------------------------------------------


def _digits(value: Any) -> Any:
    # ASCII digits only: pydantic alone would take " 5", "1_000" or "²".
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,7}", value):
        raise PydanticCustomError("int_parsing", "Input should be a whole number")
    return value


Count = Annotated[int, BeforeValidator(_digits)]


class AlertQuery(Query):
    status: Status | None = Field(None, description="one of open, acknowledged, closed")
    limit: Count = Field(100, ge=1, le=MAX_LIMIT, description=f"a whole number from 1 to {MAX_LIMIT}")


class InboundQuery(Query):
    integration: str | None = Field(None, max_length=MAX_NAME, description="an integration's name")
    outcome: str | None = Field(None, max_length=100, description="an outcome such as Unmapped or Mapped Open")
    since: str | None = Field(
        None,
        max_length=40,
        description="a unix time or an RFC 3339 time with an offset (2026-01-05T09:00:00Z)",
    )
    limit: Count = Field(50, ge=1, le=MAX_LIMIT, description=f"a whole number from 1 to {MAX_LIMIT}")


class DryRunQuery(Query):
    assume: Literal["open", "acknowledged"] | None = Field(
        None, description="open or acknowledged (pretend an alert for the source id is in that state)"
    )


class ReplayQuery(Query):
    since: str = Field(max_length=40, description="a duration from 1 s to 31 d, like 2h or 90m")
    outcome: str | None = Field(None, max_length=100, description="an outcome to replay only (e.g. Unmapped)")
    apply: Literal["true", "false"] = Field("false", description="true or false")
    limit: Count = Field(1000, ge=1, le=replay.MAX_ROWS, description=f"a whole number from 1 to {replay.MAX_ROWS}")

    @field_validator("since")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value, least=1, most=replay.MAX_SINCE_SECONDS)  # its ValueError is the reason
        return value


class MaintenanceQuery(Query):
    all: Literal["1", "true", "0", "false"] | None = Field(None, description="1 or true to list ended windows too")


# --- request bodies ----------------------------------------------------------------------


class ActionBody(Body):
    """Acknowledge, close, unacknowledge: nothing, or who acts."""

    user: str | None = Field(
        None,
        max_length=MAX_NAME,
        description="a string: a configured user to act as (default: the token, as api:<token name>)",
    )


class SnoozeBody(ActionBody):
    minutes: float = Field(allow_inf_nan=False, description="a number: how long to snooze, in minutes")


class EscalateBody(ActionBody):
    level: int | None = Field(None, ge=1, le=MAX_ID, description=f"{WHOLE}: the level (default: the next)")


class ReassignBody(ActionBody):
    policy: str = Field(max_length=MAX_NAME, description="a string: the escalation policy to hand the alert to")


class NoteBody(ActionBody):
    text: str = Field(description="a string: the note")


class MergeBody(ActionBody):
    into: int = Field(ge=1, le=MAX_ID, description=f"{WHOLE}: the alert this one is merged into")


ACTION_BODIES: dict[str, type[ActionBody]] = {
    "ack": ActionBody,
    "close": ActionBody,
    "unack": ActionBody,
    "snooze": SnoozeBody,
    "escalate": EscalateBody,
    "reassign": ReassignBody,
    "note": NoteBody,
    "merge": MergeBody,
}


class NewWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrations: list[str] = Field(min_length=1, max_length=100, description="the integrations it silences")
    reason: str = Field(min_length=1, max_length=maintenance_windows.MAX_REASON_CHARS)
    start: str | float | None = Field(None, description="a unix time or RFC 3339 with an offset (default: now)")
    end: str | float | None = Field(None, description="a unix time or RFC 3339 with an offset")
    duration_minutes: float | None = Field(
        None, gt=0, le=maintenance_windows.MAX_WINDOW_SECONDS / 60, description="instead of end"
    )
    match: dict[str, Any] | None = Field(None, description="a condition in the rules' language")
    on_end: Literal["page", "quiet"] = "page"


# --- responses ---------------------------------------------------------------------------


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class AlertSummary(Row):
    id: int
    integration: str
    source_id: str
    status: Status
    title: str
    severity: str
    created_at: str
    created_at_epoch: float
    updated_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    closed_at: str | None
    closed_by: str | None
    append_count: int


class Alert(AlertSummary):
    description: str
    url: str
    tags: list[Any]
    fields: dict[str, Any]


class AlertDetail(Alert):
    timeline: list[dict[str, Any]]
    escalation: dict[str, Any] | None
    notifications: list[dict[str, Any]]


class InboundRow(Row):
    id: int
    received_at: str
    received_at_epoch: float
    integration: str | None
    outcome: str
    reason: str | None
    status: int
    alert_id: int | None


class InboundMessage(InboundRow):
    headers: Any
    body: str = Field(description="the body as received (bytes that are not UTF-8 replaced)")


class DryRun(Row):
    integration: str
    outcome: str


class ReplayResult(BaseModel):
    applied: bool
    changes: list[dict[str, Any]]


class Simulation(Row):
    integration: str
    inbound_id: int | None
    outcome: str
    simulated: bool


class Window(Row):
    id: int
    integrations: list[str]
    reason: str
    starts_at: str
    ends_at: str
    on_end: Literal["page", "quiet"]
    ended_at: str | None


class EndedWindow(Window):
    alerts_released: int


class Heartbeat(Row):
    name: str
    interval_minutes: float
    grace_minutes: float
    escalation_policy: str | None
    state: Literal["new", "waiting", "up", "missed", "inactive"]
    last_ping_at: str | None
    due_at: str | None
    ping_count: int
    alert_id: int | None


# --- on call, schedules, policies, integrations, users, workflows (read only) --------------

MAX_WEEKS = 8


class OnCallQuery(Query):
    at: str | None = Field(
        None,
        max_length=40,
        description="a unix time or an RFC 3339 time with an offset (2026-01-05T09:00:00Z), within 5 years of now",
    )


class ScheduleQuery(Query):
    weeks: Count = Field(2, ge=1, le=MAX_WEEKS, description=f"a whole number from 1 to {MAX_WEEKS}")


class OnCall(Row):
    name: str
    timezone: str
    user: str | None = Field(description="who is on call (null: nobody)")
    source: str | None = Field(description="the layer or override that puts them there")
    starts_at: str | None
    ends_at: str | None = Field(description="until when (null: no end)")
    next_change_at: str | None


class Shift(Row):
    user: str
    source: str
    starts_at: str
    ends_at: str


class Layer(Row):
    source: str
    name: str | None
    users: list[str]
    shift: str
    handoff: str
    restrictions: list[dict[str, Any]]


class Override(Row):
    source: str
    user: str
    starts_at: str
    ends_at: str


class Schedule(Row):
    name: str
    timezone: str
    weeks: int
    layers: list[Layer]
    overrides: list[Override]
    shifts: list[Shift]


class Level(Row):
    level: int
    users: list[str]
    groups: list[str]
    schedules: list[str]
    delay_minutes: float
    words: str


class Policy(Row):
    name: str
    repeat: int
    levels: list[Level]


class Integration(Row):
    name: str
    type: str
    enabled: bool
    escalation_policy: str | None
    ruleset: str | None
    routes: list[dict[str, Any]]
    counts: dict[str, int] = Field(description="inbound messages by outcome")
    last_message_at: str | None
    handshakes: list[dict[str, Any]] = Field(description="the source's handshakes (an SNS topic's subscription)")


class Contact(Row):
    kind: str
    address: str = Field(description="masked: a***@example.com, +4*******89")


class User(Row):
    name: str
    full_name: str | None
    timezone: str
    admin: bool
    contact: list[Contact]
    notify: list[dict[str, Any]]
    groups: list[str]


class Workflow(Row):
    name: str
    enabled: bool
    trigger: str
    after_minutes: float | None
    schedule: str | None
    trigger_words: str = Field(description="the trigger for people: not_acknowledged after 5 min")
    conditions: list[str]
    does: list[str]
    runs: int
    matched: int
    actions_taken: int
    last_run_at: str | None
