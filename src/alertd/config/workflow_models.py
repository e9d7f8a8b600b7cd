"""The pydantic models of ``[workflows.NAME]`` and ``[workflow_limits]`` (issue 11).

A workflow: a ``trigger`` (an alert event, or a time condition with ``after_minutes``), optional
conditions (``when``: the mapping rules' condition language over the alert; ``during``: days and
hours in a time zone) and ordered ``actions``, each a table whose ``action`` key says what it does.
References (users, groups, schedules, policies), templates and regexes are checked in
``config.workflow_checks``; running them is ``alertd.workflows``.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alertd.kinds import KIND_RE, MAX_KIND_CHARS
from alertd.rules_config import Condition

# A leaf below config.models (which holds RawConfig with these tables): its own base and types.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ContactKind = Annotated[str, Field(pattern=KIND_RE, max_length=MAX_KIND_CHARS)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# Alert events a workflow may start on (timeline kinds; "notification_failed" is a delivery failure).
EVENT_TRIGGERS = (
    "opened",
    "reopened",
    "appended",
    "acknowledged",
    "unacknowledged",
    "closed",
    "escalated",
    "notification_failed",
    "snoozed",
    "reassigned",
    "note_added",
    "merged",
)
# Time conditions on an alert, each N = after_minutes: still open and never acknowledged N after
# opening; not closed N after opening; acknowledged but not closed N after the acknowledgement.
TIME_TRIGGERS = ("not_acknowledged", "open_longer_than", "not_closed_after_ack")
# Schedule events (with ``schedule = NAME``): the on-call person of a schedule changes (handoff
# notices). No alert is involved: only notify and webhook actions, no ``when``.
SCHEDULE_TRIGGERS = ("shift_start", "shift_end")
SCHEDULE_ACTIONS = ("notify", "webhook")
Trigger = Literal[EVENT_TRIGGERS + TIME_TRIGGERS + SCHEDULE_TRIGGERS]  # type: ignore[valid-type]
ActionName = Literal[
    "notify",
    "webhook",
    "set_severity",
    "add_tags",
    "set_field",
    "escalate",
    "reassign",
    "ack",
    "close",
    "snooze",
    "unack",
    "reopen",
    "note",
]
# The keys each action needs (beyond `action`), and those it may have.
NEEDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url",),
    "set_severity": ("severity",),
    "add_tags": ("tags",),
    "set_field": ("field", "value"),
    "reassign": ("policy",),
    "snooze": ("minutes",),
    "note": ("message",),
}
MAY: dict[str, tuple[str, ...]] = {
    "notify": ("users", "groups", "schedules", "emails", "methods", "message", "on_call"),
    "webhook": ("url", "body", "secret"),
    "escalate": ("level",),
}
MAX_TEMPLATE_CHARS = 20_000


class TimeWindow(Model):
    """Days and hours in a time zone (business hours); an end at or before the start runs past midnight."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(list(WEEKDAYS), min_length=1)
    start: time = time(0, 0)
    end: time = time(0, 0)  # 00:00 as an end means midnight at the end of the day
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError("expected an IANA time zone name such as Europe/Berlin") from exc
        return value


class WorkflowAction(Model):
    action: ActionName
    # notify
    users: list[str] = Field([], max_length=50)
    groups: list[str] = Field([], max_length=50)
    schedules: list[str] = Field([], max_length=50)
    emails: list[str] = Field([], max_length=50)
    methods: list[ContactKind] | None = Field(None, max_length=20)
    message: str | None = Field(None, min_length=1, max_length=MAX_TEMPLATE_CHARS)
    # Schedule triggers only: the person going on call ("incoming") or coming off ("outgoing").
    on_call: list[Literal["incoming", "outgoing"]] = Field([], max_length=2)
    # webhook
    url: str | None = Field(None, pattern=r"^https?://[^/\s]+(/\S*)?$", max_length=2048)
    body: str | None = Field(None, max_length=MAX_TEMPLATE_CHARS)
    # Signs the body like [channels.webhook] (whose secret applies when this is not set).
    secret: SecretStr | None = Field(None, min_length=32, max_length=512)
    # changes
    severity: str | None = Field(None, min_length=1, max_length=32)
    tags: list[str] = Field([], max_length=20)
    field: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    value: str | None = Field(None, max_length=2000)
    level: int | None = Field(None, ge=1, le=100)
    policy: str | None = Field(None, max_length=128)
    minutes: float | None = Field(None, ge=1, le=10080)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if len(address) > 254 or not (
                "@" in address and " " not in address and address.rpartition("@")[2] and address[0] != "@"
            ):
                raise ValueError(f"expected e-mail addresses; found {address[:60]!r}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if any(not tag or len(tag) > 100 for tag in value):
            raise ValueError("expected tags of 1 to 100 characters")
        return value

    @model_validator(mode="after")
    def _keys_fit_the_action(self) -> WorkflowAction:
        needs = NEEDS.get(self.action, ())
        allowed = {"action", *needs, *MAY.get(self.action, ())}
        given = {k for k in type(self).model_fields if k != "action" and k in self.model_fields_set}
        missing = [k for k in needs if getattr(self, k) in (None, [])]
        if missing:
            raise ValueError(f"{' and '.join(missing)} for action {self.action!r}")
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(
                f"only the keys of action {self.action!r} ({', '.join(sorted(allowed))}); "
                f"{', '.join(extra)} belong to other actions"
            )
        if self.action == "notify" and not (self.users or self.groups or self.schedules or self.emails or self.on_call):
            raise ValueError("at least one of users, groups, schedules, emails, on_call for action 'notify'")
        return self


class WorkflowConfig(Model):
    trigger: Trigger
    # The schedule whose shift changes a schedule trigger speaks of.
    schedule: str | None = Field(None, min_length=1, max_length=128)
    after_minutes: float | None = Field(None, gt=0, le=43200)
    when: Condition | None = None
    during: TimeWindow | None = None
    actions: list[WorkflowAction] = Field(min_length=1, max_length=20)
    enabled: bool = True

    @model_validator(mode="after")
    def _time_triggers_need_a_time(self) -> WorkflowConfig:
        if self.trigger in TIME_TRIGGERS and self.after_minutes is None:
            raise ValueError(f"after_minutes with trigger {self.trigger!r}")
        if self.trigger not in TIME_TRIGGERS and self.after_minutes is not None:
            raise ValueError(f"after_minutes only with the time triggers ({', '.join(TIME_TRIGGERS)})")
        on_shift = self.trigger in SCHEDULE_TRIGGERS
        if on_shift and self.schedule is None:
            raise ValueError(f"schedule (the name of a [schedules] table) with trigger {self.trigger!r}")
        if not on_shift and self.schedule is not None:
            raise ValueError(f"schedule only with the schedule triggers ({', '.join(SCHEDULE_TRIGGERS)})")
        if on_shift and self.when is not None:
            raise ValueError(f"no when with trigger {self.trigger!r}: no alert is involved (during may be used)")
        for action in self.actions:
            if on_shift and action.action not in SCHEDULE_ACTIONS:
                raise ValueError(
                    f"only {' and '.join(SCHEDULE_ACTIONS)} actions with trigger {self.trigger!r}; "
                    f"found {action.action!r}"
                )
            if action.on_call and not on_shift:
                raise ValueError(f"on_call only with the schedule triggers ({', '.join(SCHEDULE_TRIGGERS)})")
        return self


class WorkflowLimits(Model):
    # Actions all workflows together may take on one alert: a safety net against loops between workflows.
    max_actions_per_alert: int = Field(20, ge=1, le=1000)
