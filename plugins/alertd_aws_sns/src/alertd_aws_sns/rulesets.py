"""The default rulesets of the aws_sns inbound type (same syntax as [integrations.NAME.rules])."""

from __future__ import annotations

from typing import Any

# A CloudWatch alarm delivered through SNS: one alert per alarm (source id = AlarmArn),
# opened on ALARM, further ALARMs appended while it is open, closed on OK or INSUFFICIENT_DATA.
CLOUDWATCH_ALARM: dict[str, Any] = {
    "source_id": "Message^AlarmArn",
    "open_when": {"field": "Message^NewStateValue", "equals": "ALARM"},
    "close_when": {"field": "Message^NewStateValue", "equals": ["OK", "INSUFFICIENT_DATA"]},
    "title": "{{ Message.AlarmName }}: {{ Message.NewStateReason }}",
    "description": "{{ Message.AlarmDescription }}",
    "severity": "critical",
    "url": "https://console.aws.amazon.com/cloudwatch/home?region={{ Message.AlarmArn.split(':')[3] }}"
    "#alarmsV2:alarm/{{ Message.AlarmName | urlencode }}",
    "tags": ["aws", "cloudwatch", "{{ Message.Trigger.Namespace }}"],
    "fields": {
        "account": "{{ Message.AWSAccountId }}",
        "region": "{{ Message.Region }}",
        "alarm": "{{ Message.AlarmName }}",
        "metric": "{{ Message.Trigger.Namespace }}/{{ Message.Trigger.MetricName }}",
        "state": "{{ Message.OldStateValue }} -> {{ Message.NewStateValue }}",
        "state_change_time": "{{ Message.StateChangeTime }}",
        "topic": "{{ TopicArn }}",
    },
}

# An EventBridge rule forwarding CloudTrail events ("AWS API Call via CloudTrail",
# "AWS Console Sign In via CloudTrail") through SNS: each event opens its own alert.
EVENTBRIDGE_CLOUDTRAIL: dict[str, Any] = {
    "source_id": "Message^detail^eventID",
    "open_when": {"field": "Message^detail-type", "regex": "via CloudTrail$"},
    "title": "{{ Message.detail.eventName }} by "
    "{{ Message.detail.userIdentity.userName or Message.detail.userIdentity.arn "
    "or Message.detail.userIdentity.type }} from {{ Message.detail.sourceIPAddress }}"
    "{% if Message.detail.errorMessage %}: {{ Message.detail.errorMessage }}{% endif %}",
    "description": "{{ Message['detail-type'] }} in account {{ Message.account }} ({{ Message.region }})",
    "severity": "{% if Message.detail.errorMessage %}critical{% else %}warning{% endif %}",
    "tags": ["aws", "cloudtrail", "{{ Message.detail.eventSource }}"],
    "fields": {
        "eventName": "{{ Message.detail.eventName }}",
        "eventSource": "{{ Message.detail.eventSource }}",
        "userIdentity": "{{ Message.detail.userIdentity.arn or Message.detail.userIdentity.userName }}",
        "userType": "{{ Message.detail.userIdentity.type }}",
        "sourceIPAddress": "{{ Message.detail.sourceIPAddress }}",
        "errorMessage": "{{ Message.detail.errorMessage }}",
        "awsRegion": "{{ Message.detail.awsRegion }}",
        "account": "{{ Message.account }}",
        "eventTime": "{{ Message.detail.eventTime }}",
    },
}

# The metric filter + alarm of the AWS guide, evaluated in alertd: an EventBridge rule forwards
# CloudTrail's console sign-in events through SNS; failures count per user, and the alert opens
# at the third within five minutes (one alert per user, saying who and from where), later
# failures append, and it closes after a quiet quarter of an hour.
_SIGNIN_USER = (
    "{{ Message.detail.userIdentity.arn or ('arn:aws:iam::' ~ Message.detail.userIdentity.accountId"
    " ~ ':user/' ~ Message.detail.userIdentity.userName) }}"
)
CLOUDTRAIL_SIGNIN_FAILURES: dict[str, Any] = {
    "source_id": _SIGNIN_USER,
    "open_when": {
        "field": "Message^detail",
        "filter_pattern": '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
    },
    "threshold": {"count": 3, "within": "5m", "group_by": _SIGNIN_USER},
    "close_after_quiet": "15m",
    "title": "{{ threshold.count }} failed console sign-ins for {{ source_id }} from "
    "{{ Message.detail.sourceIPAddress }} within {{ threshold.within }}",
    "description": 'Console sign-in failures (CloudTrail ConsoleLogin, errorMessage "Failed authentication") '
    "in account {{ Message.account }} ({{ Message.region }}); the last from {{ Message.detail.sourceIPAddress }} "
    "({{ Message.detail.userAgent }}) at {{ Message.detail.eventTime }}.",
    "severity": "critical",
    "tags": ["aws", "cloudtrail", "signin"],
    "fields": {
        "user": "{{ source_id }}",
        "sourceIPAddress": "{{ Message.detail.sourceIPAddress }}",
        "MFAUsed": "{{ Message.detail.additionalEventData.MFAUsed }}",
        "account": "{{ Message.account }}",
        "eventTime": "{{ Message.detail.eventTime }}",
    },
}

RULESETS: dict[str, dict[str, Any]] = {
    "cloudwatch_alarm": CLOUDWATCH_ALARM,
    "eventbridge_cloudtrail": EVENTBRIDGE_CLOUDTRAIL,
    "cloudtrail_signin_failures": CLOUDTRAIL_SIGNIN_FAILURES,
}
DEFAULT_RULESET = "cloudwatch_alarm"
