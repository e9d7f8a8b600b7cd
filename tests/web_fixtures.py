"""A daemon config for the web console's tests: two aws_sns integrations (one paging through a
policy), an admin and a plain user with passwords, a schedule; helpers to log in."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from alertd.web.auth import hash_password
from helpers import ROOT, write_config
from inbound_fixtures import TOKEN, Db  # Db: the database of either backend (each_backend)
from sns_signing import headers_for, notification, sample_envelope, seed_cert_cache

PASSWORD = "correct horse battery"
EVENTS_TOKEN = "cloudtrail-events-test-token-0123456789"
DELAY_MIN = 2  # 2 min between the levels: the browser acknowledges before level 2, even on a loaded machine

CONFIG = f"""
[channels.recorder]
path = "{{sent}}"

[inbound.aws_sns]
cert_cache_dir = "certs"
fetch_timeout = 2

[integrations.alarms]
type = "aws_sns"
token = "{TOKEN}"
escalation_policy = "ops"
[integrations.alarms.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"]

[integrations.events]
type = "aws_sns"
token = "{EVENTS_TOKEN}"
ruleset = "eventbridge_cloudtrail"

[users.alice]
full_name = "Alice Admin"
admin = true
timezone = "Europe/Berlin"
contact = {{ email = "alice@example.com" }}

[users.bob]
contact = {{ email = "bob@example.com", sms = "+15550001234" }}

[schedules.primary]
timezone = "Europe/Berlin"
[[schedules.primary.layers]]
users = ["alice", "bob"]
shift = "1d"

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
schedules = ["primary"]
delay_minutes = {DELAY_MIN}
[[escalation_policies.ops.levels]]
users = ["alice", "bob"]
"""

# A heartbeat and a workflow for the console's Heartbeats and Workflows pages.
EXTRAS = """
[heartbeats.nightly-backup]
interval_minutes = 60
grace_minutes = 5

[workflows.raise-on-open]
trigger = "opened"
[[workflows.raise-on-open.actions]]
action = "set_severity"
severity = "critical"
"""


def web_config(tmp_path: Path, web: str = "", **kw: object) -> Path:
    seed_cert_cache(tmp_path / "certs")
    config = write_config(tmp_path, CONFIG.replace("{sent}", str(tmp_path / "sent.jsonl")) + web, **kw)  # type: ignore[arg-type]
    # plugins_dir (the recorder channel) is a top-level key: before the first table.
    config.write_text(f'plugins_dir = "{ROOT / "tests" / "plugins_dir"}"\n' + config.read_text())
    return config


def set_passwords(db_path: Path, users: tuple[str, ...] = ("alice", "bob")) -> None:
    """Passwords straight into the database (the CLI's own test goes through `alertd users`)."""
    from alertd.store import write_transaction
    from alertd.store.schema import migrate
    from alertd.web.auth import set_password
    from postgres import connect  # the database of either backend (each_backend)

    db = connect(db_path)
    migrate(db)
    hashed = hash_password(PASSWORD)
    with write_transaction(db):
        for user in users:
            set_password(db, user, hashed, time.time())
    db.conn.close()


def alarm_envelope(name: str | None = None) -> dict:
    """A signed CloudWatch ALARM notification for the ``alarms`` integration."""
    _headers, body = sample_envelope("sns-cloudwatch-alarm-ALARM.json")
    message = body["Message"].replace("ConsoleSignInFailures", name or f"Alarm-{uuid.uuid4().hex[:6]}")
    return notification(message)


def alarm_request(name: str | None = None) -> tuple[bytes, dict[str, str]]:
    envelope = alarm_envelope(name)
    return json.dumps(envelope).encode(), headers_for(envelope)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def rows(db_path: Path, sql: str, params: tuple = ()) -> list[dict]:
    return Db(db_path).rows(sql, params)
