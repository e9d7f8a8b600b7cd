"""``alertd.toml`` -> validated, cross-checked configuration.

Loading is all-or-nothing: the whole file is parsed, validated by the models
(unknown keys are errors), plugin tables are validated by the models the
plugins declare, rulesets are compiled and references between objects are
checked. Every problem is reported with the file, the key path and what was
expected; a reload swaps the new config in only when it has no problem at all.

All problems are found in one pass: an entry that fails validation is left out
(and its own error reported) so that the rest of the file is still cross-checked
and its plugin tables and rules compiled. ``inspect_config`` returns that partial
config with the errors and warnings; the CLI's read and act commands use it, as
they need only ``[store]`` (and the users list).

The package, from the leaves up: ``models`` (the pydantic models), ``problems``
(error rendering), ``resolved`` (the Config object), ``checks`` (cross-checks
and warnings), ``plugin_tables`` (tables validated by plugins), ``load`` (reading
and checking a file whole). Swapping a new config into a running daemon is
``alertd.reload``. Everything importable from ``alertd.config`` before the split
still is, from here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alertd.config.checks import check_references, config_warnings, dotted_field_paths
    from alertd.config.load import build_config, inspect_config, load_config, read_and_inspect
    from alertd.config.models import (
        KIND_RE,
        MIN_SECRET_CHARS,
        NAME_RE,
        SHIFT_RE,
        WEEKDAYS,
        ApiToken,
        EscalationPolicyConfig,
        GroupConfig,
        IntegrationConfig,
        LayerConfig,
        LevelConfig,
        LinksConfig,
        LogConfig,
        LongSecret,
        Model,
        NotifyStep,
        OutboxConfig,
        OverrideConfig,
        RawConfig,
        Restriction,
        ScheduleConfig,
        ServerConfig,
        StoreConfig,
        UserConfig,
    )
    from alertd.config.plugin_tables import resolve_plugin_tables
    from alertd.config.problems import SECRET_WORDS, ConfigError, Problem, format_problem, problems_from_validation
    from alertd.config.reading import read_toml
    from alertd.config.resolved import CheckedConfig, Config, Integration

# Each name and the module holding it, imported on first use (PEP 562): a command that checks
# only [store] and [users] (config.subset) does not pay for the cross-checks, the workflow models
# and the plugin tables.
_HOME = {
    "ApiToken": "models",
    "CheckedConfig": "resolved",
    "Config": "resolved",
    "ConfigError": "problems",
    "EscalationPolicyConfig": "models",
    "GroupConfig": "models",
    "Integration": "resolved",
    "IntegrationConfig": "models",
    "KIND_RE": "models",
    "LayerConfig": "models",
    "LevelConfig": "models",
    "LinksConfig": "models",
    "LogConfig": "models",
    "LongSecret": "models",
    "MIN_SECRET_CHARS": "models",
    "Model": "models",
    "NAME_RE": "models",
    "NotifyStep": "models",
    "OutboxConfig": "models",
    "OverrideConfig": "models",
    "Problem": "problems",
    "RawConfig": "models",
    "Restriction": "models",
    "SECRET_WORDS": "problems",
    "SHIFT_RE": "models",
    "ScheduleConfig": "models",
    "ServerConfig": "models",
    "StoreConfig": "models",
    "UserConfig": "models",
    "WEEKDAYS": "models",
    "build_config": "load",
    "check_references": "checks",
    "config_warnings": "checks",
    "dotted_field_paths": "checks",
    "format_problem": "problems",
    "inspect_config": "load",
    "load_config": "load",
    "problems_from_validation": "problems",
    "read_and_inspect": "load",
    "read_toml": "reading",
    "resolve_plugin_tables": "plugin_tables",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'alertd.config' has no attribute {name!r}")
    value = getattr(import_module(f"alertd.config.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "KIND_RE",
    "MIN_SECRET_CHARS",
    "NAME_RE",
    "SECRET_WORDS",
    "SHIFT_RE",
    "WEEKDAYS",
    "ApiToken",
    "CheckedConfig",
    "Config",
    "ConfigError",
    "EscalationPolicyConfig",
    "GroupConfig",
    "Integration",
    "IntegrationConfig",
    "LayerConfig",
    "LevelConfig",
    "LinksConfig",
    "LogConfig",
    "LongSecret",
    "Model",
    "NotifyStep",
    "OutboxConfig",
    "OverrideConfig",
    "Problem",
    "RawConfig",
    "Restriction",
    "ScheduleConfig",
    "ServerConfig",
    "StoreConfig",
    "UserConfig",
    "build_config",
    "check_references",
    "config_warnings",
    "dotted_field_paths",
    "format_problem",
    "inspect_config",
    "load_config",
    "problems_from_validation",
    "read_and_inspect",
    "read_toml",
    "resolve_plugin_tables",
]
