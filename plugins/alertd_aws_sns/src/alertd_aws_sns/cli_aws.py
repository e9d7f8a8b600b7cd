"""``alertd aws template INTEGRATION``: print the CloudFormation template for an aws_sns integration."""

from __future__ import annotations

import re
from typing import Any

import click

from alertd_aws_sns.cfn_template import DEFAULT_LOG_GROUP, LOG_GROUP_RE, period_problem


class TemplateError(click.ClickException):
    """One line on stderr, exit 2."""

    exit_code = 2


def register(cli: click.Group) -> None:
    from alertd.plugin import config_option

    @cli.group("aws")
    def aws() -> None:
        """The AWS side of aws_sns integrations."""

    @aws.command("template")
    @config_option
    @click.argument("integration")
    @click.option(
        "--log-group",
        default=DEFAULT_LOG_GROUP,
        show_default=True,
        help="The log group CloudTrail delivers to (the metric filter's; a parameter of the stack).",
    )
    @click.option("--threshold", default=3, show_default=True, type=click.IntRange(1, 100_000), help="Failures.")
    @click.option("--period", default=300, show_default=True, type=click.IntRange(10, 86_400), help="Seconds.")
    @click.option(
        "--eventbridge", is_flag=True, help="An EventBridge rule per failed sign-in instead of filter and alarm."
    )
    @click.pass_obj
    def template(obj: Any, integration: str, log_group: str, threshold: int, period: int, eventbridge: bool) -> None:
        """Print a CloudFormation template (YAML) creating the SNS topic, its HTTPS subscription to
        INTEGRATION's URL (server.public_url), and the CloudTrail metric filter ConsoleSignInFailures
        with its alarm, or with --eventbridge an EventBridge rule for failed console sign-ins.

        The template holds the integration's secret URL: keep it like a password.

        \b
        alertd aws template cloudtrail-alarms > alertd.yaml
        aws cloudformation deploy --template-file alertd.yaml --stack-name alertd-signin
        """
        from alertd.plugin import integration_tokens, integration_url, visible, write_transaction
        from alertd_aws_sns.cfn_template import TemplateOptions, build, to_yaml

        config = obj.config
        integ = config.integrations.get(integration)
        if integ is None:
            known = ", ".join(config.integrations) or "none"
            raise click.BadParameter(f"no integration named {integration!r} (known: {known})", param_hint="INTEGRATION")
        if integ.inbound_type.name != "aws_sns":
            raise click.BadParameter(
                f"integration {integration!r} is of type {integ.inbound_type.name}, not aws_sns",
                param_hint="INTEGRATION",
            )
        if not re.match(LOG_GROUP_RE, log_group):
            raise click.BadParameter(
                f"expected a log group name (letters, digits, . - _ / #; 1 to 512); found {visible(log_group[:60])!r}",
                param_hint="--log-group",
            )
        problem = period_problem(period)
        if problem:
            raise click.BadParameter(f"{problem}; found {period}", param_hint="--period")
        if not config.raw.server.public_url:
            raise TemplateError(
                "server.public_url is not set: the subscription needs the address AWS reaches alertd at"
            )
        db = obj.open_store_db()
        with write_transaction(db):
            token = integration_tokens(db, config)[integration]
        url = integration_url(config, token)
        if not url.startswith("https://"):
            click.echo(f"warning: {config.public_url} is not https: SNS will deliver over plain HTTP", err=True)
        if eventbridge and not integ.ruleset_name.startswith("eventbridge_cloudtrail"):
            click.echo(
                f"warning: integration {integration!r} uses ruleset {integ.ruleset_name}; "
                'EventBridge events want ruleset = "eventbridge_cloudtrail"',
                err=True,
            )
        options = TemplateOptions(integration, url, log_group, threshold, period, eventbridge)
        click.echo(to_yaml(build(options)), nl=False)
