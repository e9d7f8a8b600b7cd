"""``alertd aws template``: the CloudFormation template is valid (cfn-lint) and, deployed to moto
(the fake AWS), creates the topic, the subscription to the integration's URL, the metric filter
and the alarm, or the EventBridge rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import run_cli_in_process, write_config

ALARMS_TOKEN = "template-alarms-token-0123456789abcdef"
EVENTS_TOKEN = "template-events-token-0123456789abcdef"
PATTERN = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'
CONFIG = f"""
[integrations.signin-alarms]
type = "aws_sns"
token = "{ALARMS_TOKEN}"

[integrations.signin-events]
type = "aws_sns"
token = "{EVENTS_TOKEN}"
ruleset = "eventbridge_cloudtrail"

[integrations.hooks]
type = "webhook"
"""
PUBLIC = 'public_url = "https://alertd.example.com/"'


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("aws-template")
    config = write_config(tmp, CONFIG, server=PUBLIC)
    out: dict[str, Path] = {}
    for name, args in (
        ("alarm", ["signin-alarms", "--log-group", "aws-cloudtrail-logs-1234", "--threshold", "5", "--period", "600"]),
        ("eventbridge", ["signin-events", "--eventbridge"]),
    ):
        result = run_cli_in_process("-c", str(config), "aws", "template", *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        out[name] = tmp / f"{name}.yaml"
        out[name].write_text(result.stdout)
    return out


def test_cfn_lint_accepts_both_templates(templates: dict[str, Path]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(templates["alarm"]), str(templates["eventbridge"])], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alarm_template_says_what_the_guide_clicks(templates: dict[str, Path]) -> None:
    template = yaml.safe_load(templates["alarm"].read_text())
    resources = template["Resources"]
    (subscription,) = resources["AlertTopic"]["Properties"]["Subscription"]
    assert subscription == {"Protocol": "https", "Endpoint": f"https://alertd.example.com/in/{ALARMS_TOKEN}"}
    metric_filter = resources["ConsoleSignInFailuresFilter"]["Properties"]
    assert metric_filter["FilterName"] == "ConsoleSignInFailures"
    assert metric_filter["FilterPattern"] == PATTERN
    assert metric_filter["MetricTransformations"] == [
        {"MetricNamespace": "CloudTrailMetrics", "MetricName": "ConsoleSigninFailureCount", "MetricValue": "1"}
    ]
    assert template["Parameters"]["CloudTrailLogGroupName"]["Default"] == "aws-cloudtrail-logs-1234"
    alarm = resources["ConsoleSignInFailuresAlarm"]["Properties"]
    assert (alarm["Threshold"], alarm["Period"], alarm["ComparisonOperator"]) == (
        5,
        600,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlertTopic"}]


# --- deployed to moto ---------------------------------------------------------------

# moto's CloudFormation does not implement these types (it warns and skips them); the test
# creates each through moto's own service API from the template's properties instead.
NOT_IN_MOTO_CFN = ("AWS::Logs::MetricFilter", "AWS::CloudWatch::Alarm", "AWS::SNS::TopicPolicy")


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        return {k: _resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, refs) for v in value]
    return value


def _create_outside_cfn(session: Any, kind: str, props: dict[str, Any]) -> None:
    if kind == "AWS::Logs::MetricFilter":
        session.client("logs").put_metric_filter(
            logGroupName=props["LogGroupName"],
            filterName=props["FilterName"],
            filterPattern=props["FilterPattern"],
            metricTransformations=[
                {
                    "metricNamespace": t["MetricNamespace"],
                    "metricName": t["MetricName"],
                    "metricValue": t["MetricValue"],
                }
                for t in props["MetricTransformations"]
            ],
        )
    elif kind == "AWS::CloudWatch::Alarm":
        session.client("cloudwatch").put_metric_alarm(**props)  # the property names are the API's
    elif kind == "AWS::SNS::TopicPolicy":
        for topic in props["Topics"]:
            session.client("sns").set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )


def deploy(session: Any, path: Path, parameters: dict[str, str]) -> str:
    """Create the stack in moto; return the topic's ARN."""
    cf = session.client("cloudformation")
    body = path.read_text()
    cf.create_stack(
        StackName=path.stem,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    stack = cf.describe_stacks(StackName=path.stem)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    (output,) = stack["Outputs"]
    topic_arn = output["OutputValue"]
    template = yaml.safe_load(body)
    refs = {"AlertTopic": topic_arn, **parameters}
    for resource in template["Resources"].values():
        if resource["Type"] in NOT_IN_MOTO_CFN:
            _create_outside_cfn(session, resource["Type"], _resolve(resource["Properties"], refs))
    return topic_arn


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
def test_the_alarm_stack_deploys_to_moto(templates: dict[str, Path], aws: Any) -> None:
    aws.client("logs").create_log_group(logGroupName="trail-logs")
    topic = deploy(aws, templates["alarm"], {"CloudTrailLogGroupName": "trail-logs"})
    (sub,) = aws.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (sub["Protocol"], sub["Endpoint"]) == ("https", f"https://alertd.example.com/in/{ALARMS_TOKEN}")
    (metric_filter,) = aws.client("logs").describe_metric_filters(logGroupName="trail-logs")["metricFilters"]
    assert (metric_filter["filterName"], metric_filter["filterPattern"]) == ("ConsoleSignInFailures", PATTERN)
    assert metric_filter["metricTransformations"][0]["metricName"] == "ConsoleSigninFailureCount"
    (alarm,) = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "CloudTrailMetrics",
        "ConsoleSigninFailureCount",
        "Sum",
    )
    assert (alarm["Threshold"], alarm["Period"]) == (5.0, 600)
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]


@pytest.mark.filterwarnings("ignore:Tried to parse AWS::")
def test_the_eventbridge_stack_deploys_to_moto(templates: dict[str, Path], aws: Any) -> None:
    topic = deploy(aws, templates["eventbridge"], {})
    (sub,) = aws.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sub["Endpoint"] == f"https://alertd.example.com/in/{EVENTS_TOKEN}"
    events = aws.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.signin"],
        "detail-type": ["AWS Console Sign In via CloudTrail"],
        "detail": {"eventName": ["ConsoleLogin"], "errorMessage": ["Failed authentication"]},
    }
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == topic
    policy = json.loads(aws.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert aws.client("logs").describe_log_groups()["logGroups"] == []  # no metric filter on this path


@pytest.mark.parametrize(
    ("args", "server", "message"),
    [
        (["nope"], PUBLIC, "no integration named 'nope'"),
        (["hooks"], PUBLIC, "integration 'hooks' is of type webhook, not aws_sns"),
        (["signin-alarms", "--period", "61"], PUBLIC, "expected 10, 30 or a multiple of 60 seconds"),
        (["signin-alarms", "--threshold", "0"], PUBLIC, "--threshold"),
        (["signin-alarms", "--log-group", "bad group!"], PUBLIC, "expected a log group name"),
        (["signin-alarms"], "", "server.public_url is not set"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, args: list[str], server: str, message: str) -> None:
    config = write_config(tmp_path, CONFIG, server=server)
    result = run_cli_in_process("-c", str(config), "aws", "template", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
