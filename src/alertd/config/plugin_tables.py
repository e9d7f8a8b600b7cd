"""Plugin tables: [inbound.*], [channels.*] and each integration's options and ruleset,
validated by the models the plugins declare."""

from __future__ import annotations

from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from alertd.config.checks import dotted_field_paths
from alertd.config.problems import Problem, join_key, problems_from_validation
from alertd.config.resolved import Config, Integration
from alertd.rules_config import RulesetConfig, RulesetError


def _unknown_table(table: str, what: str, name: str, known: dict[str, Any]) -> Problem:
    """[<table>.<name>] where no loaded plugin provides <name>."""
    return Problem(f"{table}.{name}", f"no {what} named {name!r} (known: {', '.join(sorted(known)) or 'none'})")


def contact_kind_problems(config: Config, declared: set[str]) -> list[Problem]:
    """users.<name>.contact.<kind> where no loaded channel declares <kind>.

    A notify step's method must be a key of contact (checks.check_references), so it is covered.
    """

    def problem(key: str, kind: str) -> Problem:
        known = ", ".join(sorted(declared)) or "none loaded"
        return Problem(key, f"expected a contact kind declared by a loaded channel ({known}); found string {kind!r}")

    out: list[Problem] = []
    for name, user in config.raw.users.items():
        out += [problem(f"users.{name}.contact.{kind}", kind) for kind in user.contact if kind not in declared]
    return out


def _validate_plugin_table(
    model: type[BaseModel] | None,
    data: dict[str, Any],
    prefix: tuple[Any, ...],
    owner: str,
    problems: list[Problem],
) -> BaseModel | None:
    if model is None:
        if data:
            problems.append(Problem(join_key(prefix), f"plugin {owner} takes no settings here"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for p in problems_from_validation(exc, prefix, model=model):
            problems.append(Problem(p.key, f"{p.message} (plugin {owner})"))
        return None


def shipped_texts(ruleset: Any) -> frozenset[str]:
    """Every string in a plugin's ruleset (its templates among them), at any depth."""
    if isinstance(ruleset, str):
        return frozenset((ruleset,))
    values = ruleset.values() if isinstance(ruleset, dict) else ruleset if isinstance(ruleset, list) else ()
    return frozenset().union(*(shipped_texts(v) for v in values))


def resolve_plugin_tables(
    config: Config, pm: pluggy.PluginManager, problems: list[Problem], *, rules_checked: bool = False
) -> None:
    """``rules_checked``: the file's own rule texts passed every check before (the same bytes and
    code: config.validated_cache), so they are compiled on first use, as a plugin's own ones are."""
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
            problems.append(_unknown_table("inbound", "inbound type", name, inbound_types))
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
                    join_key((*prefix, "type")),
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
                        join_key((*prefix, "ruleset")),
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
        dotted = [Problem(join_key(rules_prefix + loc), message) for loc, message in dotted_field_paths(rules)]
        if dotted:
            problems.extend(dotted)
            continue
        from alertd.mapping import compile_ruleset  # jinja2 and regex: only when there are rules to compile

        try:
            shipped = shipped_texts(base)
            if rules_checked:  # (with the model's defaults, e.g. severity "critical")
                shipped |= shipped_texts(integ.rules or {}) | shipped_texts(
                    [rules.title, rules.description, rules.severity, rules.url]
                )
            compiled = compile_ruleset(rules, shipped)
        except RulesetError as exc:
            problems.append(Problem(join_key(rules_prefix + tuple(exc.loc)), exc.message))
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

    # The kinds a user's contact table may name are those the loaded channel plugins declare.
    declared = {kind for ch in channels.values() for kind in ch.kinds}
    problems.extend(contact_kind_problems(config, declared))
    config.channel_kinds = {
        kind: sorted(ch.name for ch in channels.values() if kind in ch.kinds) for kind in sorted(declared)
    }
    for name, data in raw.channels.items():
        ch = channels.get(name)
        if ch is None:
            problems.append(_unknown_table("channels", "channel", name, channels))
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
    config.quiet_kinds = quiet_kinds(config, channels, declared)


def quiet_kinds(config: Config, channels: dict[str, Any], declared: set[str]) -> frozenset[str]:
    """The kinds that get no closure notice: their configured channel says so, or, with none
    configured, every installed channel that could serve them does."""
    quiet = set()
    for kind in declared:
        name = config.channel_for_kind.get(kind)
        serving = [config.channels[name][0]] if name else [ch for ch in channels.values() if kind in ch.kinds]
        if not any(getattr(ch, "closure_notices", True) for ch in serving):
            quiet.add(kind)
    return frozenset(quiet)
