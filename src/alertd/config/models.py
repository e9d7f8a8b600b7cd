"""The pydantic models of ``alertd.toml``: what each table may hold, with its bounds.

Pure validation of one value at a time; references between tables are checked in
``checks``, plugin tables by the models the plugins declare (``plugin_tables``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alertd.config.workflow_models import WorkflowConfig, WorkflowLimits
from alertd.kinds import KIND_RE, MAX_KIND_CHARS
from alertd.shifts import SHIFT_RE as SHIFT_RE  # re-exported: alertd.config.SHIFT_RE
from alertd.shifts import valid_shift
from alertd.store.pgurl import postgresql_url_problem
from alertd.weekdays import WEEKDAYS

# Contact kinds are declared by channel plugins (Channel.kinds), not listed here: a third-party
# channel brings its own. Only the shape is checked here; plugin_tables checks each kind against
# the kinds of the loaded channels.
MAX_CONTACTS = 20
ContactKind = Annotated[str, Field(pattern=KIND_RE, max_length=MAX_KIND_CHARS)]
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError("expected an IANA time zone name such as Europe/Berlin") from exc
    return value


MIN_SECRET_CHARS = 32


def _long_secret(value: SecretStr) -> SecretStr:
    # A short secret can be guessed offline from one signed link or signature; generated ones are 43.
    if len(value.get_secret_value()) < MIN_SECRET_CHARS:
        raise ValueError(
            f"expected a secret of at least {MIN_SECRET_CHARS} characters "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


# A signing or URL secret set by hand; plugins use it for theirs too (e.g. [channels.webhook] secret).
LongSecret = Annotated[SecretStr, AfterValidator(_long_secret)]


# --- server, store, log -------------------------------------------------------


class ApiToken(Model):
    """A bearer token for the REST API; its name is recorded as the actor of what it does."""

    name: str = Field(pattern=NAME_RE, max_length=64)
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _long_token(cls, value: SecretStr) -> SecretStr:
        if not 16 <= len(value.get_secret_value()) <= 256:
            raise ValueError("expected API tokens of 16 to 256 characters")
        return value


class ServerConfig(Model):
    listen: str = Field("127.0.0.1:8080", pattern=r"^\[?[0-9A-Za-z.:-]*\]?:\d{1,5}$")
    public_url: str | None = Field(None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    # SNS messages are at most 256 KiB; the envelope and JSON escaping add a little.
    max_body_bytes: int = Field(288 * 1024, ge=1024)
    graceful_timeout: float = Field(10.0, gt=0)
    # /in/: the whole body must arrive within this many seconds (else 408 and the connection closes).
    body_timeout: float = Field(10.0, gt=0, le=300)
    # /in/: requests to a known token being read or processed at once; more get 503 (senders retry).
    max_inbound_in_flight: int = Field(100, ge=1, le=10_000)
    # /in/: worker processes that verify and record inbound messages off the HTTP process's
    # interpreter lock (alertd.ingest_worker); 0: in the HTTP process.
    ingest_processes: int = Field(0, ge=0, le=8)
    # Each entry a table { name = "ci", token = "..." } or a plain string (then named token-1, token-2 ...).
    api_tokens: list[ApiToken] = Field([], max_length=100)

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _name_plain_tokens(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{"name": f"token-{i}", "token": t} if isinstance(t, str) else t for i, t in enumerate(value, 1)]

    @field_validator("api_tokens")
    @classmethod
    def _unique_names(cls, value: list[ApiToken]) -> list[ApiToken]:
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError(f"expected distinct token names; found {', '.join(sorted(names))}")
        return value


class StoreConfig(Model):
    path: Path = Path("alertd.db")
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    inbound_retention_days: float = Field(30, gt=0)
    # Provider webhooks carry no timestamp: their ids are kept this long so that a replay acts
    # once only (longer than any captured request is worth replaying; rows are tiny).
    reply_receipt_retention_days: float = Field(365, ge=30, le=3650)
    # How long a write waits for a lock held by another process before the request gets a 503.
    busy_timeout_seconds: float = Field(5, gt=0, le=300)
    # A hard cap on the database size; when it is reached inbound requests get 503 (SNS retries).
    max_size_mb: float | None = Field(None, gt=0)
    # PostgreSQL instead of the SQLite file at ``path`` (store/postgres.py). Secret: it may hold a
    # password (better kept in PGPASSWORD or ~/.pgpass, which libpq reads).
    url: SecretStr | None = None
    # PostgreSQL: connections kept for reads (the writer has its own).
    pool_size: int = Field(4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = postgresql_url_problem(value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _path_or_url(self) -> StoreConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("set either path (SQLite) or url (PostgreSQL), not both")
        return self


class LogConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"


# --- integrations -------------------------------------------------------------


def _url_token(value: SecretStr | None) -> SecretStr | None:
    # A secret URL token set by hand (integrations, heartbeats); generated ones are 32 characters.
    if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{22,128}", value.get_secret_value()):
        raise ValueError("expected 22 to 128 characters of A-Z a-z 0-9 _ - (at least 128 random bits)")
    return value


# An alert's owners: a user, "group:NAME" or "schedule:NAME" (whoever is on call).
Recipient = Annotated[str, Field(pattern=r"^((group|schedule):)?[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=140)]


class DuringConfig(Model):
    """Days and hours in a time zone ("business hours"); an end at or before the start is on the next day."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(list(WEEKDAYS), min_length=1)
    start: time = time(0, 0)
    end: time = time(0, 0)
    timezone: str = "UTC"

    _zone = field_validator("timezone")(_check_zone)


class RouteConfig(Model):
    """``[[integrations.NAME.routes]]``: messages for which ``when`` holds (the rules' condition
    language), received ``during`` its hours if given, go to this escalation policy (and these
    recipients); the first match wins."""

    name: str | None = Field(None, pattern=NAME_RE, max_length=64)
    when: dict[str, Any] | None = None
    during: DuringConfig | None = None
    escalation_policy: str | None = None
    recipients: list[Recipient] | None = Field(None, max_length=50)


class IntegrationConfig(Model):
    type: str
    token: SecretStr | None = None
    escalation_policy: str | None = None
    recipients: list[Recipient] = Field([], max_length=50)
    routes: list[RouteConfig] = Field([], max_length=100)
    ruleset: str | None = None
    rules: dict[str, Any] | None = None
    options: dict[str, Any] = {}
    notify_on_close: bool = False
    enabled: bool = True

    @field_validator("token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        return _url_token(value)


# --- people -------------------------------------------------------------------


class NotifyStep(Model):
    method: ContactKind
    after_minutes: float = Field(0, ge=0)


class UserConfig(Model):
    full_name: str | None = None
    # Admins also see integration tokens and confirm subscriptions in the web console.
    admin: bool = False
    timezone: str = "UTC"
    contact: dict[ContactKind, Annotated[str, Field(max_length=1024)]] = Field({}, max_length=MAX_CONTACTS)
    notify: list[NotifyStep] | None = Field(None, max_length=100)

    _zone = field_validator("timezone")(_check_zone)

    def notify_steps(self) -> list[NotifyStep]:
        """The user's notification rules; by default every contact method at once (in table order)."""
        if self.notify is not None:
            return list(self.notify)
        return [NotifyStep(method=kind) for kind in self.contact]


class GroupConfig(Model):
    members: list[str] = Field(min_length=1)


# --- schedules ----------------------------------------------------------------


class Restriction(Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = list(WEEKDAYS)
    start: time = time(0, 0)
    end: time = time(0, 0)  # 00:00 as an end means midnight at the end of the day


class LayerConfig(Model):
    name: str | None = None
    users: list[str] = Field(min_length=1)
    shift: str = Field("1w", description="shift length: <n>h, <n>d or <n>w")
    handoff: time = time(9, 0)
    start: date = date(2026, 1, 5)
    restrictions: list[Restriction] = []

    @field_validator("shift")
    @classmethod
    def _shift(cls, value: str) -> str:
        if not valid_shift(value):
            raise ValueError("expected a shift length like '12h', '1d' or '2w'")
        return value


class OverrideConfig(Model):
    user: str
    start: datetime
    end: datetime


class ScheduleConfig(Model):
    timezone: str = "UTC"
    layers: list[LayerConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = []
    ical_token: LongSecret | None = None

    _zone = field_validator("timezone")(_check_zone)


# --- escalation ---------------------------------------------------------------


class LevelConfig(Model):
    users: list[str] = []
    groups: list[str] = []
    schedules: list[str] = []
    delay_minutes: float = Field(10, ge=0)


class EscalationPolicyConfig(Model):
    levels: list[LevelConfig] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=100)


# --- heartbeats ---------------------------------------------------------------


class HeartbeatConfig(Model):
    """``[heartbeats.NAME]``: a secret URL to ping at least every ``interval_minutes``; a ping
    later than interval + grace opens an alert (paged by ``escalation_policy``), the next closes it."""

    interval_minutes: float = Field(ge=0.05, le=31 * 24 * 60)  # 3 s to 31 days
    grace_minutes: float = Field(5, ge=0, le=7 * 24 * 60)
    escalation_policy: str | None = None
    token: SecretStr | None = None
    severity: str = Field("critical", min_length=1, max_length=32)
    # Plain text (no template); by default "heartbeat NAME missed: last ping at ...".
    title: str | None = Field(None, min_length=1, max_length=300)
    # The zone of the times in the alert's title and description.
    timezone: str = "UTC"
    notify_on_close: bool = False

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        return _url_token(value)


# --- maintenance windows --------------------------------------------------------


class MaintenanceConfig(Model):
    """``[maintenance.NAME]``: a recurring window (days, from ``start`` to ``end`` in ``timezone``;
    an end at or before the start is on the next day) during which alerts of ``integrations``
    (whose message matches ``match``, if given) open without paging."""

    integrations: list[str] = Field(min_length=1, max_length=100)
    # A condition in the mapping rules' language over the message (checked in checks.py).
    match: dict[str, Any] | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(list(WEEKDAYS), min_length=1)
    start: time
    end: time
    timezone: str = "UTC"
    on_end: Literal["page", "quiet"] = "page"
    reason: str = Field("", max_length=500)

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: Any) -> time:
        if info.data.get("start") == value:
            raise ValueError("expected an end different from the start")
        return value


class LinksConfig(Model):
    secret: LongSecret | None = None
    ttl_hours: float = Field(24, gt=0)


class OutboxConfig(Model):
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_base_seconds: float = Field(5, gt=0)
    backoff_max_seconds: float = Field(300, gt=0)


class ClusterConfig(Model):
    """Several instances sharing one database (``[cluster]``): a claim or lock held by an instance
    that stops renewing it (every third of the lease) is taken over once the lease has passed."""

    lease_seconds: float = Field(30, ge=5, le=600)


class WebConfig(Model):
    """The web console (``[web]``), served on the server's listener."""

    enabled: bool = True
    session_hours: float = Field(12, gt=0, le=24 * 90)
    # Failed logins allowed per user and address in 15 minutes (an address alone gets 4 times this).
    login_attempts: int = Field(5, ge=1, le=1000)
    # Behind an authenticating proxy (oauth2-proxy ...): the header naming the user, believed only
    # from the addresses in trusted_proxies.
    trusted_user_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    trusted_proxies: list[Annotated[str, Field(max_length=64)]] = Field([], max_length=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"expected IP addresses or networks (10.0.0.0/8); found {item!r}") from None
        return value


class RawConfig(Model):
    # Defaults by factory: an instance made here would build its model at import (defer_build),
    # which a command validating only [store] and [users] (config.subset) should not pay for.
    server: ServerConfig = Field(default_factory=ServerConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    links: LinksConfig = Field(default_factory=LinksConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    plugins_dir: Path | None = None
    integrations: dict[str, IntegrationConfig] = {}
    users: dict[str, UserConfig] = {}
    groups: dict[str, GroupConfig] = {}
    schedules: dict[str, ScheduleConfig] = {}
    escalation_policies: dict[str, EscalationPolicyConfig] = {}
    heartbeats: dict[str, HeartbeatConfig] = Field({}, max_length=1000)
    maintenance: dict[str, MaintenanceConfig] = Field({}, max_length=1000)
    inbound: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}
    # Workflows (issue 11): config/workflow_models.py.
    workflows: dict[str, WorkflowConfig] = {}
    workflow_limits: WorkflowLimits = Field(default_factory=WorkflowLimits)
