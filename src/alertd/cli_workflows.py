"""``alertd workflows`` (each workflow, its trigger, last run and counts) and ``alertd test-workflow
NAME ALERT_ID`` (a dry run: which conditions hold, which actions would run; nothing changes)."""

from __future__ import annotations

import json
from typing import Any

import click

from alertd.cli_common import ROW_ID, config_option


def _trigger(workflow: Any) -> str:
    if workflow.schedule is not None:
        return f"{workflow.trigger} {workflow.schedule}"
    return f"{workflow.trigger} {workflow.after_minutes:g}m" if workflow.after_minutes else workflow.trigger


@click.command("workflows")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def workflows_cmd(obj: Any, as_json: bool) -> None:
    """List workflows: trigger, actions, last run, runs (matched) and actions taken."""
    import time

    from alertd import workflows
    from alertd.textout import local_time, table, visible, zone_named

    config = obj.config
    out = workflows.listing(obj.open_store_db(), config.raw)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str, ensure_ascii=False))
        return
    if not out:
        click.echo("no workflows configured ([workflows.NAME] in the config)")
        return
    zone = zone_named(None)
    rows = [
        [
            visible(item["name"]) + ("" if item["enabled"] else " (off)"),
            _trigger(config.raw.workflows[item["name"]]),
            "; ".join(visible(a) for a in item["does"]),
            local_time(item["last_run"], zone, with_zone=False) if item["last_run"] else "never",
            f"{item['runs']} ({item['matched']})",
            str(item["actions_taken"]),
        ]
        for item in out
    ]
    for line in table(
        ["WORKFLOW", "TRIGGER", "ACTIONS", "LAST RUN", "RUNS (MATCHED)", "DONE"], rows, width=140, flexible=2
    ):
        click.echo(line)
    click.echo(f"({time.strftime('%Z')} times; RUNS: triggers seen, MATCHED: conditions held; DONE: actions taken)")


@click.command("test-workflow")
@config_option
@click.argument("name")
@click.argument("alert_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def test_workflow_cmd(obj: Any, name: str, alert_id: int, as_json: bool) -> None:
    """Dry run of workflow NAME on alert ALERT_ID now: which conditions hold, which actions would run."""
    import time

    from alertd import alerts, workflows
    from alertd.textout import visible

    config = obj.config
    if name not in config.raw.workflows:
        known = ", ".join(config.raw.workflows) or "none"
        raise click.BadParameter(f"no workflow named {name!r} (known: {known})", param_hint="NAME")
    if config.raw.workflows[name].schedule is not None:
        raise click.BadParameter(
            f"workflow {name!r} runs on handoffs of schedule {config.raw.workflows[name].schedule!r}, not on alerts",
            param_hint="NAME",
        )
    try:
        result = workflows.dry_run(obj.open_store_db(), config, name, alert_id, time.time())
    except alerts.AlertError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str, ensure_ascii=False))
        return
    alert = result["alert"]
    click.echo(f"workflow: {visible(name)} (trigger {result['trigger']}{'' if result['enabled'] else ', disabled'})")
    click.echo(f"alert:    #{alert['id']} {alert['status']}: {visible(alert['title'])}")
    for check in result["conditions"]:
        click.echo(f"  {'holds' if check['holds'] else 'fails'}: {check['condition']}")
    if not result["conditions"]:
        click.echo("  (no conditions)")
    click.echo("would run:" if result["would_run"] else "would not run; its actions:")
    for i, action in enumerate(result["actions"], 1):
        extra = f" -> {', '.join(action['recipients']) or 'nobody'}" if "recipients" in action else ""
        click.echo(f"  {i}. {visible(action['summary'])}{visible(extra)}")


COMMANDS = (workflows_cmd, test_workflow_cmd)
