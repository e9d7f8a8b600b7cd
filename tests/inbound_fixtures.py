"""A daemon with aws_sns integrations and a trusted test signing certificate."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from helpers import DaemonProcess, write_config
from postgres import PgDb, db_url
from sns_signing import headers_for, notification, sample_envelope, seed_cert_cache

TOKEN = "cloudtrail-alarms-test-token-0123456789"
EVENTS_TOKEN = "cloudtrail-events-test-token-0123456789"

INTEGRATIONS = f"""
[inbound.aws_sns]
cert_cache_dir = "certs"
fetch_timeout = 2

[integrations.alarms]
type = "aws_sns"
token = "{TOKEN}"
[integrations.alarms.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"]

[integrations.events]
type = "aws_sns"
token = "{EVENTS_TOKEN}"
ruleset = "eventbridge_cloudtrail"
"""


def sns_config(tmp_path: Path, extra: str = "", *, alarms: str = "", events: str = "", **kw: Any) -> Path:
    """A config with the two aws_sns integrations; ``alarms`` and ``events`` are lines added to
    each one's table (e.g. ``'escalation_policy = "ops"'``), ``extra`` goes at the end."""
    seed_cert_cache(tmp_path / "certs")
    text = INTEGRATIONS
    for name, lines in (("alarms", alarms), ("events", events)):
        if lines:
            head = f'[integrations.{name}]\ntype = "aws_sns"\n'
            text = text.replace(head, head + lines.rstrip("\n") + "\n", 1)
    return write_config(tmp_path, text + extra, **kw)


def shipped_rules_config(tmp_path: Path, name: str = "alarms", ruleset: str = "cloudwatch_alarm") -> Path:
    """A config of one SNS integration on a shipped ruleset and nothing else (for the tests that
    check what loading such a config imports, in a fresh interpreter)."""
    config = tmp_path / "alertd.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "alertd.db"}"\n'
        f'[integrations.{name}]\ntype = "aws_sns"\nruleset = "{ruleset}"\n'
        f'token = "{name}-test-token-0123456789abcdef0123"\n'
    )
    return config


def sample_message(name: str) -> tuple[str, str, str | None]:
    """(Message, MessageId, Subject) of a sample file."""
    _headers, body = sample_envelope(name)
    return body["Message"], body["MessageId"], body.get("Subject")


def alarm_notification(name: str, state: str = "ALARM") -> dict[str, Any]:
    """A signed SNS notification of the sample CloudWatch alarm, renamed ``name``, in ``state``."""
    message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
    data = json.loads(message)
    data["AlarmName"] = name
    data["AlarmArn"] = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    data["NewStateValue"] = state
    return notification(json.dumps(data))


def post_envelope(
    daemon: DaemonProcess, envelope: dict, token: str = TOKEN, headers: dict[str, str] | None = None
) -> httpx.Response:
    return daemon.post(
        f"/in/{token}",
        content=json.dumps(envelope).encode(),
        headers=headers if headers is not None else headers_for(envelope),
    )


class Db:
    """Read the daemon's database the way an operator would, beside the running daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        url = db_url(self.path)  # the postgresql run of each_backend: that database instead
        if url is not None:
            return PgDb(url).rows(sql, params)
        conn = sqlite3.connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params).fetchall()]
        finally:
            conn.close()

    def inbound(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM inbound_log ORDER BY id")

    def alerts(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM alerts ORDER BY id")
