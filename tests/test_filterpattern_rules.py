"""Filter patterns as a rule condition (issue 13 item 3): mapping, config errors, the daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertd.config import ConfigError, load_config
from alertd.mapping import Condition, Document, RulesetError, compile_condition
from alertd.plugins import make_manager
from helpers import write_config
from inbound_fixtures import Db
from inprocess import in_process
from sns_signing import headers_for, notification, sample_envelope, seed_cert_cache

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

SIGNIN_FAILURE = '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'
TOKEN = "filter-pattern-test-token-0123456789"


def sample_body(name: str) -> dict:
    return sample_envelope(name)[1]


def test_condition_on_a_field_and_on_the_whole_message() -> None:
    on_detail = compile_condition(Condition(filter_pattern=SIGNIN_FAILURE, field="Message^detail"), ("open_when",))
    failure = Document(sample_body("sns-eventbridge-cloudtrail-consolelogin-failure.json"))
    api_call = Document(sample_body("sns-eventbridge-cloudtrail-api-call.json"))
    assert on_detail(failure) and not on_detail(api_call)
    # No field: the whole message (here the SNS envelope, whose Message is a JSON string).
    whole = compile_condition(Condition(filter_pattern='{ $.Type = "Notification" }'), ("open_when",))
    assert whole(failure)
    # A field holding a JSON string is parsed for a JSON pattern; terms read it as text.
    on_string = compile_condition(Condition(filter_pattern='"Failed authentication"', field="Message"), ())
    assert on_string(failure) and not on_string(api_call)
    missing = compile_condition(Condition(filter_pattern="", field="Message^nope"), ())
    assert not missing(failure)


def test_condition_errors() -> None:
    with pytest.raises(RulesetError) as caught:
        compile_condition(Condition(filter_pattern="{ $.eventName = }"), ("open_when",))
    assert caught.value.loc == ("open_when", "filter_pattern")
    assert caught.value.message.startswith(
        "expected a CloudWatch Logs filter pattern; at character 17: expected a value"
    )
    with pytest.raises(RulesetError, match="only an optional field"):
        compile_condition(Condition(filter_pattern="ERROR", equals="x", field="a"), ())


def test_check_config_names_file_key_path_and_position(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        f"""
[integrations.x]
type = "aws_sns"
token = "{TOKEN}"
[integrations.x.rules]
source_id = "MessageId"
open_when = {{ all = [{{ filter_pattern = '{{ ($.eventName = ConsoleLogin) && $.errorMessage = }}' }}] }}
[integrations.y]
type = "aws_sns"
[integrations.y.rules]
source_id = "MessageId"
open_when = {{ filter_pattern = '{"A" * 1025}' }}
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, make_manager())
    text = str(caught.value)
    assert (
        f"{path}: integrations.x.rules.open_when.all[0].filter_pattern: expected a CloudWatch Logs filter pattern; "
        "at character 52: expected a value" in text
    )
    assert "integrations.y.rules.open_when.filter_pattern: expected" in text and "1024" in text


async def test_the_daemon_maps_by_filter_pattern(tmp_path: Path) -> None:
    seed_cert_cache(tmp_path / "certs")
    config = write_config(
        tmp_path,
        f"""
[inbound.aws_sns]
cert_cache_dir = "certs"
[integrations.signins]
type = "aws_sns"
token = "{TOKEN}"
ruleset = "eventbridge_cloudtrail"
[integrations.signins.rules]
open_when = {{ filter_pattern = '{SIGNIN_FAILURE}', field = "Message^detail" }}
""",
    )
    db = Db(tmp_path / "alertd.db")
    async with in_process(config) as app:
        for name in (
            "sns-eventbridge-cloudtrail-consolelogin-failure.json",
            "sns-eventbridge-cloudtrail-api-call.json",
        ):
            envelope = notification(json.loads(sample_body(name)["Message"]))
            response = await app.post(f"/in/{TOKEN}", content=json.dumps(envelope), headers=headers_for(envelope))
            assert response.status_code == 200, response.text
    assert [row["outcome"] for row in db.inbound()] == ["Mapped Open", "Unmapped"]
    assert db.alerts()[0]["title"].startswith("ConsoleLogin by alice from 203.0.113.7")
