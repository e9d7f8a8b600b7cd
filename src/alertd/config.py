"""``alertd.toml`` -> validated, cross-checked configuration.

Loading is all-or-nothing: the whole file is parsed, validated by the models
below (unknown keys are errors), plugin tables are validated by the models the
plugins declare, rulesets are compiled and references between objects are
checked. Every problem is reported with the file, the key path and what was
expected; a reload swaps the new config in only when it has no problem at all.

All problems are found in one pass: an entry that fails validation is left out
(and its own error reported) so that the rest of the file is still cross-checked
and its plugin tables and rules compiled. ``inspect_config`` returns that partial
config with the errors and warnings; the CLI's read and act commands use it, as
they need only ``[store]`` (and the users list).
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from alertd.mapping import CompiledRuleset, RulesetConfig, RulesetError, compile_ruleset

CONTACT_KINDS = ("email", "sms", "voice", "push", "webhook")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    # How long a write waits for a lock held by another process before the request gets a 503.
    busy_timeout_seconds: float = Field(5, gt=0, le=300)
    # A hard cap on the database size; when it is reached inbound requests get 503 (SNS retries).
    max_size_mb: float | None = Field(None, gt=0)


class LogConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"


# --- integrations -------------------------------------------------------------


class IntegrationConfig(Model):
    type: str
    token: SecretStr | None = None
    escalation_policy: str | None = None
    ruleset: str | None = None
    rules: dict[str, Any] | None = None
    options: dict[str, Any] = {}
    notify_on_close: bool = False
    enabled: bool = True

    @field_validator("token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{22,128}", value.get_secret_value()):
            raise ValueError("expected 22 to 128 characters of A-Z a-z 0-9 _ - (at least 128 random bits)")
        return value


# --- people -------------------------------------------------------------------


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA time zone name such as Europe/Berlin") from exc
    return value


class NotifyStep(Model):
    method: Literal["email", "sms", "voice", "push", "webhook"]
    after_minutes: float = Field(0, ge=0)


class UserConfig(Model):
    full_name: str | None = None
    timezone: str = "UTC"
    contact: dict[Literal["email", "sms", "voice", "push", "webhook"], str] = {}
    notify: list[NotifyStep] | None = None

    _zone = field_validator("timezone")(_check_zone)

    def notify_steps(self) -> list[NotifyStep]:
        """The user's notification rules; by default every contact method at once."""
        if self.notify is not None:
            return list(self.notify)
        return [NotifyStep(method=kind) for kind in CONTACT_KINDS if kind in self.contact]


class GroupConfig(Model):
    members: list[str] = Field(min_length=1)


# --- schedules ----------------------------------------------------------------

SHIFT_RE = re.compile(r"^(\d+)\s*([hdw])$")


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
        if not SHIFT_RE.match(value) or int(SHIFT_RE.match(value).group(1)) == 0:  # type: ignore[union-attr]
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


class LinksConfig(Model):
    secret: LongSecret | None = None
    ttl_hours: float = Field(24, gt=0)


class OutboxConfig(Model):
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_base_seconds: float = Field(5, gt=0)
    backoff_max_seconds: float = Field(300, gt=0)


class RawConfig(Model):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    log: LogConfig = LogConfig()
    links: LinksConfig = LinksConfig()
    outbox: OutboxConfig = OutboxConfig()
    plugins_dir: Path | None = None
    integrations: dict[str, IntegrationConfig] = {}
    users: dict[str, UserConfig] = {}
    groups: dict[str, GroupConfig] = {}
    schedules: dict[str, ScheduleConfig] = {}
    escalation_policies: dict[str, EscalationPolicyConfig] = {}
    inbound: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}


# --- errors -------------------------------------------------------------------


@dataclass
class Problem:
    key: str
    message: str


def format_problem(path: Path, problem: Problem, warning: bool = False) -> str:
    mark = "WARNING " if warning else ""
    if problem.key:
        return f"{path}: {mark}{problem.key}: {problem.message}"
    return f"{path}: {mark}{problem.message}"


class ConfigError(Exception):
    """Every problem found in one config file (and the warnings found beside them)."""

    def __init__(self, path: Path | str, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.path = Path(path)
        self.problems = problems
        self.warnings = warnings or []
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(format_problem(self.path, p) for p in self.problems)


SECRET_WORDS = ("token", "secret", "password", "auth", "key")


@dataclass
class _Redacted:
    length: int


def _is_secret_key(loc: tuple[Any, ...]) -> bool:
    names = [p for p in loc if isinstance(p, str)]
    return any(word in part.lower() for part in names[-2:] for word in SECRET_WORDS)


def _describe(value: Any) -> str:
    if isinstance(value, _Redacted):
        return f"a secret value of {value.length} characters (not shown)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"number {value}"
    return f"{type(value).__name__} {value!r}"


def _join(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
    "time_type": "a time like 09:00",
    "time_parsing": "a time like 09:00",
    "date_type": "a date like 2026-01-05",
    "date_parsing": "a date like 2026-01-05",
    "date_from_datetime_parsing": "a date like 2026-01-05",
    "datetime_type": "a date-time like 2026-11-27T09:00:00",
    "datetime_parsing": "a date-time like 2026-11-27T09:00:00",
    "datetime_from_date_parsing": "a date-time like 2026-11-27T09:00:00",
    "path_type": "a path string",
}


def _expected(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"a string matching {ctx.get('pattern')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"a number {sign} {bound}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} item(s)"
    msg = err["msg"]
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def problems_from_validation(
    exc: ValidationError, prefix: tuple[Any, ...] = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    """Turn pydantic's errors into "key.path: expected X; found Y" problems."""
    out = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        is_key = "[key]" in raw_loc
        loc = tuple(p for p in raw_loc if p != "[key]")
        key = _join(prefix + loc)
        value = err.get("input")
        if _is_secret_key(loc) and value is not None:
            value = _Redacted(len(str(value)))
        if err["type"] == "extra_forbidden" or is_key:
            allowed = _allowed_keys(model, loc[:-1]) if model else None
            if is_key and err["type"] == "literal_error":
                allowed = [str(x).strip("'") for x in str(err["ctx"]["expected"]).replace(" or ", ", ").split(", ")]
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            out.append(Problem(key, f"unknown key{hint}"))
        elif err["type"] == "missing":
            out.append(Problem(key, "missing required key"))
        else:
            expected = _expected(err)
            if expected.startswith("expected"):
                out.append(Problem(key, f"{expected}; found {_describe(value)}"))
            else:
                out.append(Problem(key, f"expected {expected}; found {_describe(value)}"))
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Follow ``loc`` through nested annotations to list the keys allowed there."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    target = _strip_optional(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(target.model_fields)
    return None


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _step(annotation: Any, part: Any) -> Any:
    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        info = annotation.model_fields.get(part)
        return None if info is None else info.annotation
    return None


# --- the resolved config ------------------------------------------------------


@dataclass
class Integration:
    name: str
    config: IntegrationConfig
    inbound_type: Any
    options: BaseModel
    ruleset: CompiledRuleset
    ruleset_name: str


@dataclass
class Config:
    path: Path
    raw: RawConfig
    integrations: dict[str, Integration] = field(default_factory=dict)
    inbound_settings: dict[str, BaseModel] = field(default_factory=dict)
    channels: dict[str, tuple[Any, BaseModel]] = field(default_factory=dict)
    channel_for_kind: dict[str, str] = field(default_factory=dict)
    # Every channel plugin installed that could serve each contact kind (for hints).
    channel_kinds: dict[str, list[str]] = field(default_factory=dict)
    # Things that are valid but probably not meant (printed by check-config, logged at start).
    warnings: list[Problem] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve_path(self, value: Path) -> Path:
        """Relative paths in the config are relative to the config file's directory."""
        return value if value.is_absolute() else (self.base_dir / value)

    @property
    def db_path(self) -> Path:
        return self.resolve_path(self.raw.store.path)

    @property
    def public_url(self) -> str:
        if self.raw.server.public_url:
            return self.raw.server.public_url.rstrip("/")
        return f"http://{self.raw.server.listen}"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, [Problem("", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [Problem("", f"TOML syntax error: {exc}")]) from None
    except OSError as exc:
        raise ConfigError(path, [Problem("", f"cannot read file: {exc.strerror}")]) from None


def load_config(path: str | Path, pm: pluggy.PluginManager | None = None) -> Config:
    """Parse, validate and cross-check ``path``; raise ConfigError listing every problem."""
    path = Path(path).absolute()
    data = read_toml(path)
    return build_config(path, data, pm)


def build_config(path: Path, data: dict[str, Any], pm: pluggy.PluginManager | None) -> Config:
    """The config in ``data``; ConfigError listing every problem if there is any."""
    checked = inspect_config(path, data, pm)
    if checked.errors:
        raise ConfigError(path, checked.errors, checked.warnings)
    return checked.config


@dataclass
class CheckedConfig:
    """The result of checking a whole file: what is valid, every error and every warning."""

    config: Config  # built from the valid entries only when there are errors
    errors: list[Problem]
    warnings: list[Problem]
    # Key paths left out because they were invalid: a top-level key ("store") or an entry ("users.bob").
    left_out: set[str]


# Tables of named entries: an invalid entry is left out alone, not the whole table.
_NAMED_TABLES = ("integrations", "users", "groups", "schedules", "escalation_policies", "inbound", "channels")


def _validate_leaving_out(data: dict[str, Any]) -> tuple[RawConfig, list[Problem], set[str]]:
    """Validate ``data``, leaving out what is invalid so the rest can still be cross-checked.

    First round: each invalid key is removed (its default applies), so that the entry holding it is
    still checked for references; the errors reported are this round's. Later rounds only clean up
    what the removals broke (a missing required key): the whole entry ("users.bob") goes, then the
    whole top-level key. Entries left out are returned so references to them are not reported twice.
    """
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    left_out: set[str] = set()
    for round_ in range(4):
        try:
            return RawConfig.model_validate(data), problems, left_out
        except ValidationError as exc:
            if round_ == 0:
                problems.extend(problems_from_validation(exc, model=RawConfig))
            for err in exc.errors():
                loc = [p for p in err["loc"] if p != "[key]"]
                if loc:
                    _leave_out(data, loc, round_, left_out)
    return RawConfig(), problems, left_out | set(data)


def _leave_out(data: dict[str, Any], loc: list[Any], round_: int, left_out: set[str]) -> None:
    top = loc[0]
    parent: Any = data
    for part in loc[:-1]:
        if isinstance(parent, dict):
            parent = parent.get(part)
        elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
            parent = parent[part]
        else:
            parent = None
    if round_ == 0 and len(loc) > 1 and isinstance(parent, dict) and loc[-1] in parent:
        del parent[loc[-1]]
        return
    table = data.get(top)
    if round_ <= 1 and top in _NAMED_TABLES and len(loc) > 1 and isinstance(table, dict):
        table.pop(loc[1], None)
        left_out.add(f"{top}.{loc[1]}")
        return
    data.pop(top, None)
    left_out.add(str(top))


def inspect_config(path: Path, data: dict[str, Any], pm: pluggy.PluginManager | None) -> CheckedConfig:
    """Check the whole of ``data`` in one pass: every error and warning, and the config of its valid parts."""
    raw, problems, left_out = _validate_leaving_out(data)
    config = Config(path=path, raw=raw)
    _check_references(raw, problems, left_out)
    if pm is not None:
        _resolve_plugins(config, pm, problems)
    warnings = config_warnings(config, pm is not None)
    config.warnings = warnings
    return CheckedConfig(config=config, errors=problems, warnings=warnings, left_out=left_out)


def read_and_inspect(path: str | Path, pm: pluggy.PluginManager | None = None) -> CheckedConfig:
    """``inspect_config`` of a file; ConfigError only when the file cannot be read or parsed."""
    path = Path(path).absolute()
    return inspect_config(path, read_toml(path), pm)


def _validate_plugin_table(
    model: type[BaseModel] | None,
    data: dict[str, Any],
    prefix: tuple[Any, ...],
    owner: str,
    problems: list[Problem],
) -> BaseModel | None:
    if model is None:
        if data:
            problems.append(Problem(_join(prefix), f"plugin {owner} takes no settings here"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for p in problems_from_validation(exc, prefix, model=model):
            problems.append(Problem(p.key, f"{p.message} (plugin {owner})"))
        return None


def _resolve_plugins(config: Config, pm: pluggy.PluginManager, problems: list[Problem]) -> None:
    raw = config.raw
    inbound_types: dict[str, Any] = {}
    for group in pm.hook.alertd_inbound_types():
        for it in group or []:
            inbound_types[it.name] = it
    channels: dict[str, Any] = {}
    for group in pm.hook.alertd_channels():
        for ch in group or []:
            channels[ch.name] = ch

    for name, data in raw.inbound.items():
        it = inbound_types.get(name)
        if it is None:
            problems.append(
                Problem(
                    f"inbound.{name}",
                    f"no inbound type named {name!r} (known: {', '.join(sorted(inbound_types)) or 'none'})",
                )
            )
            continue
        settings = _validate_plugin_table(it.settings_model, data, ("inbound", name), it.name, problems)
        if settings is not None:
            config.inbound_settings[name] = settings
    for name, it in inbound_types.items():
        if name not in config.inbound_settings and it.settings_model is not None:
            try:
                config.inbound_settings[name] = it.settings_model()
            except ValidationError:
                pass

    for name, integ in raw.integrations.items():
        prefix = ("integrations", name)
        it = inbound_types.get(integ.type)
        if it is None:
            problems.append(
                Problem(
                    _join((*prefix, "type")),
                    f"expected one of the inbound types "
                    f"({', '.join(sorted(inbound_types)) or 'none loaded'}); "
                    f"found string {integ.type!r}",
                )
            )
            continue
        options = _validate_plugin_table(it.options_model, integ.options, (*prefix, "options"), it.name, problems)
        # `rules` alone is a complete ruleset; with `ruleset` it overrides keys of that named one.
        if integ.rules is not None and integ.ruleset is None:
            ruleset_name, base = "inline", {}
        else:
            ruleset_name = integ.ruleset or it.default_ruleset
            if ruleset_name not in it.rulesets:
                problems.append(
                    Problem(
                        _join((*prefix, "ruleset")),
                        f"expected one of the rulesets of {it.name} "
                        f"({', '.join(sorted(it.rulesets))}); found string {ruleset_name!r}",
                    )
                )
                continue
            base = it.rulesets[ruleset_name]
            if integ.rules:
                ruleset_name += " + rules"
        rules_prefix = (*prefix, "rules")
        try:
            rules = RulesetConfig.model_validate({**base, **(integ.rules or {})})
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, rules_prefix, model=RulesetConfig))
            continue
        dotted = [Problem(_join(rules_prefix + loc), message) for loc, message in dotted_field_paths(rules)]
        if dotted:
            problems.extend(dotted)
            continue
        try:
            compiled = compile_ruleset(rules)
        except RulesetError as exc:
            problems.append(Problem(_join(rules_prefix + tuple(exc.loc)), exc.message))
            continue
        if options is not None:
            config.integrations[name] = Integration(
                name=name,
                config=integ,
                inbound_type=it,
                options=options,
                ruleset=compiled,
                ruleset_name=ruleset_name,
            )

    config.channel_kinds = {
        kind: sorted(ch.name for ch in channels.values() if kind in ch.kinds) for kind in CONTACT_KINDS
    }
    for name, data in raw.channels.items():
        ch = channels.get(name)
        if ch is None:
            problems.append(
                Problem(
                    f"channels.{name}",
                    f"no channel named {name!r} (known: {', '.join(sorted(channels)) or 'none'})",
                )
            )
            continue
        settings = _validate_plugin_table(ch.config_model, data, ("channels", name), ch.name, problems)
        if settings is None and ch.config_model is not None:
            continue
        config.channels[name] = (ch, settings)
        for kind in ch.kinds:
            other = config.channel_for_kind.get(kind)
            if other is not None:
                problems.append(
                    Problem(
                        f"channels.{name}",
                        f"contact kind {kind!r} is already served by channel {other!r}; "
                        "configure only one channel per kind",
                    )
                )
            config.channel_for_kind[kind] = name


def _check_references(raw: RawConfig, problems: list[Problem], left_out: set[str] | None = None) -> None:
    left_out = left_out or set()

    def need(kind: str, table: dict[str, Any], name: str, key: str) -> None:
        # A name left out as invalid has its own error; saying it is missing too would mislead.
        if name not in table and f"{kind}.{name}" not in left_out and kind not in left_out:
            known = ", ".join(sorted(table)) or "none defined"
            problems.append(Problem(key, f"expected the name of one of [{kind}] ({known}); found string {name!r}"))

    for name in [*raw.integrations, *raw.users, *raw.groups, *raw.schedules, *raw.escalation_policies]:
        if not re.match(NAME_RE, name):
            problems.append(Problem(name, "names may hold only letters, digits, '_', '.', '-'"))

    for name, integ in raw.integrations.items():
        if integ.escalation_policy is not None:
            need(
                "escalation_policies",
                raw.escalation_policies,
                integ.escalation_policy,
                f"integrations.{name}.escalation_policy",
            )
    tokens: dict[str, str] = {}
    for name, integ in raw.integrations.items():
        if integ.token is not None:
            value = integ.token.get_secret_value()
            if value in tokens:
                problems.append(
                    Problem(
                        f"integrations.{name}.token",
                        f"the same token as integrations.{tokens[value]}; tokens must be unique",
                    )
                )
            tokens[value] = name
    for name, group in raw.groups.items():
        for i, member in enumerate(group.members):
            need("users", raw.users, member, f"groups.{name}.members[{i}]")
    for name, user in raw.users.items():
        for i, step in enumerate(user.notify or []):
            if step.method not in user.contact:
                problems.append(
                    Problem(
                        f"users.{name}.notify[{i}].method",
                        f"expected a kind present in users.{name}.contact "
                        f"({', '.join(user.contact) or 'none'}); found string {step.method!r}",
                    )
                )
    for name, sched in raw.schedules.items():
        for li, layer in enumerate(sched.layers):
            for ui, user in enumerate(layer.users):
                need("users", raw.users, user, f"schedules.{name}.layers[{li}].users[{ui}]")
        for oi, override in enumerate(sched.overrides):
            need("users", raw.users, override.user, f"schedules.{name}.overrides[{oi}].user")
            if override.end <= override.start:
                problems.append(Problem(f"schedules.{name}.overrides[{oi}].end", "expected an end after the start"))
    for name, policy in raw.escalation_policies.items():
        for li, level in enumerate(policy.levels):
            prefix = f"escalation_policies.{name}.levels[{li}]"
            if not (level.users or level.groups or level.schedules):
                problems.append(Problem(prefix, "expected at least one of users, groups, schedules"))
            for i, user in enumerate(level.users):
                need("users", raw.users, user, f"{prefix}.users[{i}]")
            for i, group in enumerate(level.groups):
                need("groups", raw.groups, group, f"{prefix}.groups[{i}]")
            for i, sched in enumerate(level.schedules):
                need("schedules", raw.schedules, sched, f"{prefix}.schedules[{i}]")


# --- mistakes that validate but page nobody (pure) --------------------------------


def dotted_field_paths(rules: RulesetConfig) -> list[tuple[tuple[Any, ...], str]]:
    """Field paths written with dots (template syntax) where a path needs ``^``, with a hint."""
    found: list[tuple[tuple[Any, ...], str]] = []

    def check(path: str, loc: tuple[Any, ...]) -> None:
        if "." in path and "^" not in path:
            found.append(
                (
                    loc,
                    f"expected a field path with '^' between nested keys; found string {path!r} "
                    f"(did you mean {path.replace('.', '^')!r}? dots are for templates: "
                    f"{{{{ {path} }}}})",
                )
            )

    def walk(cond: Any, loc: tuple[Any, ...]) -> None:
        if cond is None:
            return
        if cond.field is not None:
            check(cond.field, (*loc, "field"))
        for kind in ("all", "any"):
            for i, inner in enumerate(getattr(cond, kind) or []):
                walk(inner, (*loc, kind, i))
        walk(cond.not_, (*loc, "not"))

    if "{{" not in rules.source_id and "{%" not in rules.source_id:
        check(rules.source_id, ("source_id",))
    for name in ("filter", "open_when", "close_when", "ack_when"):
        walk(getattr(rules, name), (name,))
    return found


def config_warnings(config: Config, channels_known: bool) -> list[Problem]:
    """Valid settings that mean some alert or page reaches nobody."""
    raw = config.raw
    out: list[Problem] = []
    for name, integ in raw.integrations.items():
        if integ.enabled and integ.escalation_policy is None:
            out.append(Problem(f"integrations.{name}", "no escalation_policy: alerts will page nobody"))
    if not channels_known:
        return out

    def hint(kind: str) -> str:
        tables = [f"[channels.{n}]" for n in config.channel_kinds.get(kind) or []]
        return f" (configure {' or '.join(tables)})" if tables else ""

    for name, user in raw.users.items():
        steps = user.notify_steps()
        missing = [step.method for step in steps if step.method not in config.channel_for_kind]
        if not steps:
            out.append(Problem(f"users.{name}.contact", "no contact address: pages to this user reach nobody"))
        elif len(missing) == len(steps):
            kinds = ", ".join(dict.fromkeys(missing))
            out.append(
                Problem(
                    f"users.{name}",
                    f"no channel serves any of its contact kinds ({kinds}){hint(missing[0])}: "
                    "pages to this user reach nobody",
                )
            )
        elif user.notify is None:
            for kind in missing:
                message = f"no channel serves contact kind {kind!r}{hint(kind)}: it is skipped"
                out.append(Problem(f"users.{name}.contact.{kind}", message))
        else:
            for i, step in enumerate(user.notify):
                if step.method in missing:
                    message = (
                        f"no channel serves contact kind {step.method!r}{hint(step.method)}: "
                        "this step fails and the next one is tried"
                    )
                    out.append(Problem(f"users.{name}.notify[{i}].method", message))
    return out
