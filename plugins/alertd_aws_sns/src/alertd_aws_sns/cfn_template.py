"""``alertd aws template``: the AWS side of an aws_sns integration as one CloudFormation template.

What the AWS guide clicks through for failed console sign-ins, in one stack: an SNS topic, the
subscription of the integration's URL to it, and either the CloudTrail metric filter
``ConsoleSignInFailures`` (namespace ``CloudTrailMetrics``, metric ``ConsoleSigninFailureCount``,
value 1) with an alarm whose AlarmActions and OKActions publish to the topic, or (``eventbridge``)
an EventBridge rule sending each failed sign-in event to the topic. Pure: a dict, dumped as YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

FILTER_PATTERN = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'
NAMESPACE = "CloudTrailMetrics"
METRIC = "ConsoleSigninFailureCount"
FILTER_NAME = "ConsoleSignInFailures"
DEFAULT_LOG_GROUP = "CloudTrail/DefaultLogGroup"
# A log group name as CloudWatch Logs accepts it.
LOG_GROUP_RE = r"^[.\-_/#A-Za-z0-9]{1,512}$"


@dataclass(frozen=True)
class TemplateOptions:
    integration: str
    url: str
    log_group: str = DEFAULT_LOG_GROUP
    threshold: int = 3
    period: int = 300
    eventbridge: bool = False


def period_problem(period: int) -> str:
    """CloudWatch alarms take periods of 10, 30 or a multiple of 60 seconds (up to a day)."""
    if period in (10, 30) or (period % 60 == 0 and 60 <= period <= 86_400):
        return ""
    return "expected 10, 30 or a multiple of 60 seconds up to 86400"


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def build(options: TemplateOptions) -> dict[str, Any]:
    protocol = urlsplit(options.url).scheme
    resources: dict[str, Any] = {
        # The subscription inline: SNS sends its SubscriptionConfirmation to alertd when the stack is
        # created (confirmed by `alertd sns confirm` or auto_confirm).
        "AlertTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "DisplayName": f"alertd {options.integration}",
                "Subscription": [{"Protocol": protocol, "Endpoint": options.url}],
            },
        },
    }
    if options.eventbridge:
        description = (
            f"alertd integration {options.integration}: failed console sign-ins (CloudTrail via EventBridge) "
            "-> SNS -> alertd. Deploy in us-east-1, where sign-in events of IAM users arrive."
        )
        resources["ConsoleSignInFailuresRule"] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "Failed AWS console sign-ins, each sent to alertd through SNS",
                "EventPattern": {
                    "source": ["aws.signin"],
                    "detail-type": ["AWS Console Sign In via CloudTrail"],
                    "detail": {"eventName": ["ConsoleLogin"], "errorMessage": ["Failed authentication"]},
                },
                "State": "ENABLED",
                "Targets": [{"Arn": _ref("AlertTopic"), "Id": "alertd"}],
            },
        }
        resources["AlertTopicPolicy"] = {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [_ref("AlertTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgePublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": _ref("AlertTopic"),
                        }
                    ],
                },
            },
        }
        parameters: dict[str, Any] = {}
    else:
        description = (
            f"alertd integration {options.integration}: CloudTrail metric filter {FILTER_NAME} and its alarm "
            f"(>= {options.threshold} failed console sign-ins in {options.period} s) -> SNS -> alertd"
        )
        parameters = {
            "CloudTrailLogGroupName": {
                "Type": "String",
                "Default": options.log_group,
                "Description": "The CloudWatch Logs log group CloudTrail delivers to",
            }
        }
        resources[f"{FILTER_NAME}Filter"] = {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "FilterName": FILTER_NAME,
                "LogGroupName": _ref("CloudTrailLogGroupName"),
                "FilterPattern": FILTER_PATTERN,
                "MetricTransformations": [{"MetricNamespace": NAMESPACE, "MetricName": METRIC, "MetricValue": "1"}],
            },
        }
        resources[f"{FILTER_NAME}Alarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{FILTER_NAME}-{options.integration}",
                "AlarmDescription": f"{options.threshold} or more failed console sign-ins within {options.period} s",
                "Namespace": NAMESPACE,
                "MetricName": METRIC,
                "Statistic": "Sum",
                "Period": options.period,
                "EvaluationPeriods": 1,
                "Threshold": options.threshold,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [_ref("AlertTopic")],
                "OKActions": [_ref("AlertTopic")],
            },
        }
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description}
    if parameters:
        template["Parameters"] = parameters
    template["Resources"] = resources
    template["Outputs"] = {
        "TopicArn": {"Description": "The SNS topic alertd is subscribed to", "Value": _ref("AlertTopic")}
    }
    return template


def to_yaml(template: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(template, sort_keys=False, default_flow_style=False, width=1000)
