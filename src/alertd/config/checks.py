"""Cross-checks between tables (references, unique tokens) and warnings about valid
settings that page nobody. Pure functions of the validated config."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from alertd.config.models import NAME_RE, RawConfig
from alertd.config.problems import Problem
from alertd.rules_config import RulesetConfig

if TYPE_CHECKING:
    from alertd.config.resolved import Config


def check_references(raw: RawConfig, problems: list[Problem], left_out: set[str] | None = None) -> None:
    left_out = left_out or set()

    def need(kind: str, table: dict[str, Any], name: str, key: str) -> None:
        # A name left out as invalid has its own error; saying it is missing too would mislead.
        if name not in table and f"{kind}.{name}" not in left_out and kind not in left_out:
            known = ", ".join(sorted(table)) or "none defined"
            problems.append(Problem(key, f"expected the name of one of [{kind}] ({known}); found string {name!r}"))

    valid_name = re.compile(NAME_RE).match
    for name in [*raw.integrations, *raw.users, *raw.groups, *raw.schedules, *raw.escalation_policies, *raw.heartbeats]:
        if not valid_name(name):
            problems.append(Problem(name, "names may hold only letters, digits, '_', '.', '-'"))

    for name, integ in raw.integrations.items():
        if integ.escalation_policy is not None:
            need(
                "escalation_policies",
                raw.escalation_policies,
                integ.escalation_policy,
                f"integrations.{name}.escalation_policy",
            )
    for name, beat in raw.heartbeats.items():
        if beat.escalation_policy is not None:
            need(
                "escalation_policies",
                raw.escalation_policies,
                beat.escalation_policy,
                f"heartbeats.{name}.escalation_policy",
            )

    def need_recipient(recipient: str, key: str) -> None:
        kind, _, ref = recipient.partition(":")
        if not ref:
            need("users", raw.users, recipient, key)
        else:
            need(
                "groups" if kind == "group" else "schedules", raw.groups if kind == "group" else raw.schedules, ref, key
            )

    for name, integ in raw.integrations.items():
        for i, recipient in enumerate(integ.recipients):
            need_recipient(recipient, f"integrations.{name}.recipients[{i}]")
        for r, route in enumerate(integ.routes):
            prefix = f"integrations.{name}.routes[{r}]"
            if route.when is None and route.during is None:
                problems.append(Problem(prefix, "expected a when condition, during hours, or both"))
            problem = None if route.when is None else condition_problem(route.when, f"{prefix}.when")
            if problem is not None:
                problems.append(problem)
            if route.escalation_policy is not None:
                need(
                    "escalation_policies",
                    raw.escalation_policies,
                    route.escalation_policy,
                    f"{prefix}.escalation_policy",
                )
            for i, recipient in enumerate(route.recipients or []):
                need_recipient(recipient, f"{prefix}.recipients[{i}]")
    for name, window in raw.maintenance.items():
        for i, integration in enumerate(window.integrations):
            # heartbeat:NAME: the alerts a missed heartbeat opens (their integration).
            beat = integration.removeprefix("heartbeat:")
            if beat != integration:
                need("heartbeats", raw.heartbeats, beat, f"maintenance.{name}.integrations[{i}]")
            else:
                need("integrations", raw.integrations, integration, f"maintenance.{name}.integrations[{i}]")
        if window.match is not None:
            problem = condition_problem(window.match, f"maintenance.{name}.match")
            if problem is not None:
                problems.append(problem)
    problems += _duplicate_tokens("heartbeats", raw.heartbeats)
    problems += _duplicate_tokens("integrations", raw.integrations)
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
    users = raw.users
    for name, sched in raw.schedules.items():  # thousands of names in a large file: keys built only for a miss
        for li, layer in enumerate(sched.layers):
            for ui, user in enumerate(layer.users):
                if user not in users:
                    need("users", users, user, f"schedules.{name}.layers[{li}].users[{ui}]")
        for oi, override in enumerate(sched.overrides):
            if override.user not in users:
                need("users", users, override.user, f"schedules.{name}.overrides[{oi}].user")
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


def condition_problem(data: dict[str, Any], key: str) -> Problem | None:
    """A condition in the rules' language (a maintenance window's match, a route's when) that does
    not compile, as a problem at its key path."""
    from pydantic import ValidationError

    from alertd.mapping import Condition, RulesetError, compile_condition

    try:
        compile_condition(Condition.model_validate(data), ())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return Problem(f"{key}.{where}" if where else key, f"expected a condition; {err['msg']}")
    except RulesetError as exc:
        where = ".".join(str(p) for p in exc.loc)
        return Problem(f"{key}.{where}" if where else key, exc.message)
    return None


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
    out: list[Problem] = store_warnings(raw)
    for name, integ in raw.integrations.items():
        if integ.enabled and integ.escalation_policy is None:
            out.append(Problem(f"integrations.{name}", "no escalation_policy: alerts will page nobody"))
    for name, beat in raw.heartbeats.items():
        if beat.escalation_policy is None:
            out.append(Problem(f"heartbeats.{name}", "no escalation_policy: a missed ping will page nobody"))
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


# [store] keys that only one backend reads. A warning, not an error: the daemon behaves safely
# without them (PostgreSQL commits durably by its own settings), and refusing a file that ran
# before would stop the paging daemon at its next restart over a leftover key.
_SQLITE_ONLY = {
    "synchronous": "PostgreSQL's own synchronous_commit applies",
    "max_size_mb": "no size cap is enforced on PostgreSQL: watch its disk instead",
}
_POSTGRESQL_ONLY = {"pool_size": "the SQLite file has no connection pool"}


def store_warnings(raw: RawConfig) -> list[Problem]:
    """``[store]`` keys set for the other backend: silently ignored otherwise."""
    store = raw.store
    on_pg = store.url is not None
    ignored = _SQLITE_ONLY if on_pg else _POSTGRESQL_ONLY
    if on_pg:
        backend = "applies to SQLite only; remove it when store.url is set"
    else:
        backend = "applies to PostgreSQL (store.url) only; remove it"
    return [
        Problem(f"store.{key}", f"{backend} ({why})") for key, why in ignored.items() if key in store.model_fields_set
    ]


def _duplicate_tokens(table: str, entries: dict[str, Any]) -> list[Problem]:
    """A problem for each entry of ``[table.*]`` whose configured token an earlier one already has."""
    problems = []
    seen: dict[str, str] = {}
    for name, entry in entries.items():
        if entry.token is None:
            continue
        value = entry.token.get_secret_value()
        if value in seen:
            problems.append(
                Problem(f"{table}.{name}.token", f"the same token as {table}.{seen[value]}; tokens must be unique")
            )
        seen[value] = name
    return problems
