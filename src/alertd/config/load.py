"""Reading a config file and checking it whole: validation, leaving out what is invalid, cross-checks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pluggy
from pydantic import ValidationError

from alertd.config.checks import check_references, config_warnings
from alertd.config.models import RawConfig
from alertd.config.plugin_tables import resolve_plugin_tables
from alertd.config.problems import ConfigError, Problem, problems_from_validation
from alertd.config.reading import parse_kept, read_source, read_toml
from alertd.config.resolved import CheckedConfig, Config
from alertd.config.workflow_checks import check_workflows, workflow_warnings


def load_config(path: str | Path, pm: pluggy.PluginManager | None = None, *, cached: bool = False) -> Config:
    """Parse, validate and cross-check ``path``; raise ConfigError listing every problem.

    ``cached`` (``alertd run``): the validated tree of the same bytes comes from the cache
    (config.validated_cache) when it holds it; a file validated in full is queued for it."""
    path = Path(path).absolute()
    if not cached:
        return build_config(path, read_toml(path), pm)
    return _load_cached(path, pm)


def _load_cached(path: Path, pm: pluggy.PluginManager | None) -> Config:
    from alertd.config.validated_cache import digest_of, remember, take

    source = read_source(path)
    digest = digest_of(source)
    raw = take(path, digest)
    if raw is not None:
        from alertd import lazy_regex

        # These bytes' regexes compiled when the entry was made (a file with a pattern `regex`
        # refuses is refused, so never kept): now they compile just after ready (daemon._build_web).
        with lazy_regex.deferred():
            config = _from_validated(path, raw, pm)
        config.from_cache = True
        return config
    config = build_config(path, parse_kept(path, source), pm)
    remember(path, digest, config.raw)
    return config


def _from_validated(path: Path, raw: RawConfig, pm: pluggy.PluginManager | None) -> Config:
    """``build_config`` of a tree validated before, without problems: the cross-checks of the tree
    alone (references, workflows) passed then; what depends on the plugins is done again."""
    config = Config(path=path, raw=raw)
    problems: list[Problem] = []
    if pm is not None:
        resolve_plugin_tables(config, pm, problems, rules_checked=True)

    def warnings() -> list[Problem]:  # only logged, after ready (300 users: ~2% of a start)
        found = config_warnings(config, pm is not None)
        return found + workflow_warnings(config) if pm is not None else found

    if problems:
        raise ConfigError(path, problems, warnings())
    config.warnings_later = warnings
    return config


def build_config(path: Path, data: dict[str, Any], pm: pluggy.PluginManager | None) -> Config:
    """The config in ``data``; ConfigError listing every problem if there is any."""
    checked = inspect_config(path, data, pm)
    if checked.errors:
        raise ConfigError(path, checked.errors, checked.warnings)
    return checked.config


# Tables of named entries: an invalid entry is left out alone, not the whole table.
_NAMED_TABLES = (
    "integrations",
    "users",
    "groups",
    "schedules",
    "escalation_policies",
    "inbound",
    "channels",
    "heartbeats",
    "maintenance",
    "workflows",
)


def _validate_leaving_out(data: dict[str, Any]) -> tuple[RawConfig, list[Problem], set[str]]:
    """Validate ``data``, leaving out what is invalid so the rest can still be cross-checked.

    First round: each invalid key is removed (its default applies), so that the entry holding it is
    still checked for references; the errors reported are this round's. Later rounds only clean up
    what the removals broke (a missing required key): the whole entry ("users.bob") goes, then the
    whole top-level key. Entries left out are returned so references to them are not reported twice.
    """
    try:  # a valid file (the usual case) needs no copy: validation does not change ``data``
        return RawConfig.model_validate(data), [], set()
    except ValidationError:
        pass
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
    check_references(raw, problems, left_out)
    check_workflows(raw, problems)
    if pm is not None:
        resolve_plugin_tables(config, pm, problems)
    warnings = config_warnings(config, pm is not None)
    if pm is not None:
        warnings += workflow_warnings(config)
    config.warnings = warnings
    return CheckedConfig(config=config, errors=problems, warnings=warnings, left_out=left_out)


def read_and_inspect(path: str | Path, pm: pluggy.PluginManager | None = None) -> CheckedConfig:
    """``inspect_config`` of a file; ConfigError only when the file cannot be read or parsed."""
    path = Path(path).absolute()
    return inspect_config(path, read_toml(path), pm)
