"""Cross-checks of ``[workflows.*]``: names that must exist, conditions and templates that must
compile; and warnings about notices no channel can send. Pure functions of the validated config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd.config.models import RawConfig
from alertd.config.problems import Problem

if TYPE_CHECKING:
    from alertd.config.resolved import Config


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def check_workflows(raw: RawConfig, problems: list[Problem]) -> None:
    if not raw.workflows:
        return
    # The rule and template compilers (jinja2, regex): imported only when there is something to compile.
    import jinja2

    from alertd.mapping import RulesetError, compile_condition
    from alertd.workflow_templates import compile_json, compile_text

    def need(kind: str, table: dict[str, Any], name: str, key: str) -> None:
        if name not in table:
            known = ", ".join(sorted(table)) or "none defined"
            problems.append(Problem(key, f"expected the name of one of [{kind}] ({known}); found string {name!r}"))

    for name, workflow in raw.workflows.items():
        prefix = f"workflows.{name}"
        if workflow.schedule is not None:
            need("schedules", raw.schedules, workflow.schedule, f"{prefix}.schedule")
        if workflow.when is not None:
            try:
                compile_condition(workflow.when, ("when",))
            except RulesetError as exc:
                problems.append(Problem(_key((prefix, *exc.loc)), exc.message))
        for i, action in enumerate(workflow.actions):
            at = f"{prefix}.actions[{i}]"
            for j, user in enumerate(action.users):
                need("users", raw.users, user, f"{at}.users[{j}]")
            for j, group in enumerate(action.groups):
                need("groups", raw.groups, group, f"{at}.groups[{j}]")
            for j, schedule in enumerate(action.schedules):
                need("schedules", raw.schedules, schedule, f"{at}.schedules[{j}]")
            if action.policy is not None:
                need("escalation_policies", raw.escalation_policies, action.policy, f"{at}.policy")
            for key, compile_ in (("message", compile_text), ("value", compile_text), ("body", compile_json)):
                source = getattr(action, key)
                if source is None:
                    continue
                try:
                    compile_(source)
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(Problem(f"{at}.{key}", f"expected a template; {exc.message} (line {exc.lineno})"))


def workflow_warnings(config: Config) -> list[Problem]:
    """Notices that cannot go out: none of an action's ``methods`` (or e-mail) served by a channel."""
    out: list[Problem] = []
    for name, workflow in config.raw.workflows.items():
        for i, action in enumerate(workflow.actions):
            for kinds in (list(action.methods or []), ["email"] if action.emails else []):
                if kinds and not any(kind in config.channel_for_kind for kind in kinds):
                    out.append(
                        Problem(
                            f"workflows.{name}.actions[{i}]",
                            f"no channel serves {' or '.join(repr(k) for k in kinds)}: "
                            "these notices fail until one is configured",
                        )
                    )
    return out
