"""The mapper: conditions, templates and decisions, as a table built from the AWS samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertd.config import ConfigError, load_config
from alertd.mapping import (
    MISSING,
    Document,
    OpenAlert,
    RulesetConfig,
    RulesetError,
    compile_condition,
    compile_ruleset,
    decide,
    evaluate,
    settle,
)
from alertd.plugins import make_manager
from alertd_aws_sns.rulesets import CLOUDWATCH_ALARM, EVENTBRIDGE_CLOUDTRAIL
from helpers import SAMPLES, run_cli_in_process


def body(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())["body"]


def cond(spec: dict):
    from alertd.mapping import Condition

    return compile_condition(Condition.model_validate(spec), ())


ALARM = body("sns-cloudwatch-alarm-ALARM.json")
DOC = {
    "a": {"b": "Hello World", "n": "42", "x": 3.5, "list": ["X", "y"], "t": True, "nul": None},
    "Message": ALARM["Message"],
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"field": "a^b", "equals": "Hello World"}, True),
        ({"field": "a^b", "equals": ["nope", "Hello World"]}, True),
        ({"field": "a^b", "equals": "hello world"}, False),
        ({"field": "a^b", "equals": "hello world", "ignore_case": True}, True),
        ({"field": "a^n", "equals": 42}, True),
        ({"field": "a^t", "equals": True}, True),
        ({"field": "a^b", "contains": "lo Wo"}, True),
        ({"field": "a^list", "contains": "y"}, True),
        ({"field": "a^list", "contains": "z"}, False),
        ({"field": "a^b", "regex": "^Hel+o\\s"}, True),
        ({"field": "a^b", "regex": "^world", "ignore_case": True}, False),
        # ignore_case applies to regex too (one row true only with it, one false without it)
        ({"field": "a^b", "regex": "^hello WORLD$", "ignore_case": True}, True),
        ({"field": "a^b", "regex": "^hello WORLD$"}, False),
        ({"field": "a^b", "contains": "LO WO", "ignore_case": True}, True),
        ({"field": "a^b", "contains": "LO WO"}, False),
        ({"field": "a^list", "contains": "x", "ignore_case": True}, True),
        ({"field": "a^list", "contains": "x"}, False),
        ({"field": "a^b", "equals": ["x", "HELLO world"], "ignore_case": True}, True),
        ({"field": "a^b", "regex": "World$"}, True),  # search, not match
        ({"field": "a^zzz", "regex": ".*"}, False),  # a missing field matches nothing
        ({"field": "a^zzz", "equals": "MISSING"}, False),
        ({"field": "a^zzz", "contains": ""}, False),
        ({"field": "a^b", "exists": False}, False),
        ({"field": "a^zzz", "exists": True}, False),
        ({"field": "a^nul", "exists": True}, False),  # null counts as absent
        ({"field": "a^nul", "exists": False}, True),
        ({"field": "a^nul", "equals": "None"}, False),
        ({"field": "a^t", "equals": "true"}, True),
        ({"field": "a^t", "equals": 1}, False),  # a bool is not the number 1
        ({"field": "a^t", "gt": 0}, False),
        # numeric bounds: each operator at, below and above its bound
        ({"field": "a^n", "gt": 42}, False),
        ({"field": "a^n", "gte": 42}, True),
        ({"field": "a^n", "gte": 42.5}, False),
        ({"field": "a^n", "lt": 42}, False),
        ({"field": "a^n", "lt": 42.5}, True),
        ({"field": "a^n", "lte": 42}, True),
        ({"field": "a^n", "lte": 41.5}, False),
        ({"field": "a^n", "gt": 40, "lt": 42}, False),  # several bounds: all must hold
        ({"field": "a^n", "gt": 40, "lte": 42}, True),
        ({"field": "a^x", "gt": 3, "lt": 4}, True),
        ({"field": "a^b", "exists": True}, True),
        ({"field": "a^zzz", "exists": False}, True),
        ({"field": "a^n", "gt": 41}, True),
        ({"field": "a^n", "gte": 42, "lt": 43}, True),
        ({"field": "a^x", "lte": 3}, False),
        ({"field": "a^b", "gt": 1}, False),  # not a number
        ({"field": "Message^NewStateValue", "equals": "ALARM"}, True),  # into the JSON string
        ({"field": "Message^Trigger^Threshold", "gte": 3}, True),
        ({"field": "Message^AlarmActions^0", "contains": "cloudtrail-alarms"}, True),
        ({"all": [{"field": "a^b", "exists": True}, {"field": "a^n", "equals": "42"}]}, True),
        ({"all": [{"field": "a^b", "exists": True}, {"field": "a^n", "equals": "41"}]}, False),
        ({"any": [{"field": "a^b", "equals": "x"}, {"field": "a^n", "equals": "42"}]}, True),
        ({"not": {"field": "a^b", "equals": "x"}}, True),
        ({"not": {"field": "a^b", "equals": "Hello World"}}, False),
        ({"any": [{"field": "a^b", "equals": "x"}, {"field": "a^n", "equals": "41"}]}, False),
        ({"all": [{"field": "a^b", "equals": "x"}, {"field": "a^n", "equals": "42"}]}, False),
    ],
)
def test_conditions(spec: dict, expected: bool) -> None:
    assert cond(spec)(Document(DOC)) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"field": "a", "equals": "x", "regex": "y"}, "exactly one operator"),
        ({"field": "a"}, "exactly one operator"),
        ({"equals": "x"}, "expected a field"),
        ({"all": [{"field": "a", "exists": True}], "field": "a"}, "either all/any/not alone"),
        ({"field": "a", "regex": "("}, "expected a regular expression"),
        ({"any": []}, "needs at least one condition"),
    ],
)
def test_bad_conditions(spec: dict, message: str) -> None:
    with pytest.raises(RulesetError, match=message):
        cond(spec)


def test_paths() -> None:
    doc = Document({"Message": "not json", "l": [1, 2]})
    assert doc.get("Message^x") is MISSING and "Message is not JSON" in doc.notes
    assert doc.get("l^1") == 2 and doc.get("l^-1") == 2 and doc.get("l^5") is MISSING
    assert doc.get("l^-2") == 1 and doc.get("l^-3") is MISSING and doc.get("l^2") is MISSING


CW = compile_ruleset(RulesetConfig.model_validate(CLOUDWATCH_ALARM))
EB = compile_ruleset(RulesetConfig.model_validate(EVENTBRIDGE_CLOUDTRAIL))
OPEN = OpenAlert(id=7, status="open")
ACKED = OpenAlert(id=7, status="acknowledged")


@pytest.mark.parametrize(
    ("sample", "ruleset", "existing", "action", "outcome"),
    [
        ("sns-cloudwatch-alarm-ALARM.json", CW, None, "open", "Mapped Open"),
        ("sns-cloudwatch-alarm-ALARM-repeat.json", CW, OPEN, "append", "Mapped Appended"),
        ("sns-cloudwatch-alarm-ALARM-repeat.json", CW, ACKED, "append", "Mapped Appended"),
        ("sns-cloudwatch-alarm-OK.json", CW, OPEN, "close", "Mapped Closed"),
        ("sns-cloudwatch-alarm-OK.json", CW, ACKED, "close", "Mapped Closed"),
        ("sns-cloudwatch-alarm-INSUFFICIENT_DATA.json", CW, OPEN, "close", "Mapped Closed"),
        ("sns-cloudwatch-alarm-OK.json", CW, None, "unmapped", "Unmapped"),
        ("sns-eventbridge-cloudtrail-consolelogin-failure.json", CW, None, "unmapped", "Unmapped"),
        ("sns-eventbridge-cloudtrail-consolelogin-failure.json", EB, None, "open", "Mapped Open"),
        ("sns-eventbridge-cloudtrail-api-call.json", EB, None, "open", "Mapped Open"),
        ("sns-cloudwatch-alarm-ALARM.json", EB, None, "unmapped", "Unmapped"),
    ],
)
def test_decisions_from_samples(sample, ruleset, existing, action, outcome) -> None:
    seen: list[str] = []

    def find_open(source_id: str) -> OpenAlert | None:
        seen.append(source_id)
        return existing

    decision = decide(body(sample), ruleset, find_open)
    assert (decision.action, decision.outcome) == (action, outcome)
    if action in ("append", "close"):
        assert decision.alert_id == 7
    if ruleset is CW and decision.source_id:
        assert decision.source_id == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ConsoleSignInFailures"


def test_cloudwatch_fields() -> None:
    decision = decide(ALARM, CW, lambda _s: None)
    assert decision.title.startswith("ConsoleSignInFailures: Threshold Crossed: 1 datapoint [4.0")
    assert decision.description == "More than 3 failed console sign-in attempts in 5 minutes"
    assert decision.url.endswith("region=us-east-1#alarmsV2:alarm/ConsoleSignInFailures")
    assert decision.tags == ("aws", "cloudwatch", "CloudTrailMetrics")
    assert decision.fields["metric"] == "CloudTrailMetrics/ConsoleSigninFailureCount"
    assert decision.fields["state"] == "OK -> ALARM"


def test_eventbridge_fields_and_source_id() -> None:
    decision = decide(body("sns-eventbridge-cloudtrail-api-call.json"), EB, lambda _s: None)
    assert decision.fields["eventName"] == "DeleteUser"
    assert "errorMessage" not in decision.fields  # empty fields are left out
    assert decision.severity == "warning"
    assert decision.source_id == "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"


def rules(**spec) -> object:
    return compile_ruleset(RulesetConfig.model_validate({"source_id": "id", **spec}))


def test_filter_ack_and_templates() -> None:
    ruleset = rules(
        filter={"field": "env", "equals": "prod"},
        open_when={"field": "state", "equals": "firing"},
        ack_when={"field": "state", "equals": "ack"},
        title="{{ name | upper }} on {{ host }} ({{ source_id }})",
        fields={"host": "{{ field('host') }}"},
    )
    assert decide({"env": "dev", "state": "firing", "id": "1"}, ruleset, lambda _s: None).outcome == "Filtered"
    opened = decide(
        {"env": "prod", "state": "firing", "id": "1", "name": "disk", "host": "h1"}, ruleset, lambda _s: None
    )
    assert (opened.outcome, opened.title, opened.fields) == ("Mapped Open", "DISK on h1 (1)", {"host": "h1"})
    assert decide({"env": "prod", "state": "ack", "id": "1"}, ruleset, lambda _s: OPEN).outcome == "Mapped Acknowledged"
    missing = decide({"env": "prod", "state": "firing"}, ruleset, lambda _s: None)
    assert missing.outcome == "Unmapped" and "source id" in missing.reason


def test_source_id_template() -> None:
    ruleset = compile_ruleset(
        RulesetConfig.model_validate(
            {
                "source_id": "{{ Message.AlarmName }}/{{ Message.Region }}",
                "open_when": {"field": "Message^NewStateValue", "equals": "ALARM"},
            }
        )
    )
    assert decide(ALARM, ruleset, lambda _s: None).source_id == "ConsoleSignInFailures/US East (N. Virginia)"


def test_templates_are_sandboxed_and_never_raise() -> None:
    ruleset = rules(
        open_when={"field": "id", "exists": True},
        title="{{ ''.__class__.__mro__[1].__subclasses__() }}",
        fields={"bad": "{{ id.split(':')[3] }}", "good": "{{ id }}"},
    )
    decision = decide({"id": ["a list"]}, ruleset, lambda _s: None)
    assert decision.outcome == "Mapped Open"
    assert "subclasses" not in decision.title and "title template failed: SecurityError" in decision.reason
    assert "fields.bad template failed" in decision.reason and decision.fields == {"good": "['a list']"}


def test_rule_order_is_close_then_ack_then_open() -> None:
    """A message matching several rules: close beats acknowledge beats open (documented order)."""
    ruleset = rules(
        open_when={"field": "open", "equals": True},
        ack_when={"field": "ack", "equals": True},
        close_when={"field": "close", "equals": True},
    )

    def outcome(existing: OpenAlert | None, **flags: bool) -> str:
        return decide({"id": "s1", **flags}, ruleset, lambda _s: existing).outcome

    assert outcome(OPEN, open=True, close=True) == "Mapped Closed"
    assert outcome(OPEN, open=True, ack=True) == "Mapped Acknowledged"
    assert outcome(OPEN, ack=True, close=True) == "Mapped Closed"
    assert outcome(OPEN, open=True, ack=True, close=True) == "Mapped Closed"
    assert outcome(OPEN, open=True) == "Mapped Appended"
    assert outcome(None, open=True) == "Mapped Open"
    # close matched first even with nothing open: Unmapped, not a new alert
    assert outcome(None, open=True, close=True) == "Unmapped"
    assert outcome(None, ack=True) == "Unmapped"
    assert outcome(ACKED, ack=True) == "Mapped Appended"
    assert outcome(ACKED, close=True) == "Mapped Closed"
    assert outcome(OPEN) == "Unmapped"


def test_filter_is_checked_before_every_rule() -> None:
    ruleset = rules(filter={"field": "env", "equals": "prod"}, close_when={"field": "state", "equals": "ok"})
    assert decide({"id": "1", "env": "dev", "state": "ok"}, ruleset, lambda _s: OPEN).outcome == "Filtered"
    assert decide({"id": "1", "env": "prod", "state": "ok"}, ruleset, lambda _s: OPEN).outcome == "Mapped Closed"


def test_the_existing_alert_is_looked_up_by_this_messages_source_id() -> None:
    ruleset = rules(open_when={"field": "id", "exists": True})
    asked: list[str] = []

    def find_open(source_id: str) -> OpenAlert | None:
        asked.append(source_id)
        return OpenAlert(id=3, status="open") if source_id == "a" else None

    assert decide({"id": "a"}, ruleset, find_open).alert_id == 3
    assert decide({"id": "b"}, ruleset, find_open).outcome == "Mapped Open"
    assert asked == ["a", "b"]


def test_only_the_open_rule_looks_up_the_alert_while_evaluating() -> None:
    """evaluate (on a reader, before the write) needs the alert state only to decide whether to
    render an opening alert's details: a close or ack match is not looked up there (the writer
    settles it against its own read); decide still settles it against the state."""
    ruleset = rules(
        open_when={"field": "open", "equals": True},
        close_when={"field": "close", "equals": True},
        ack_when={"field": "ack", "equals": True},
        title="{{ 'T ' ~ id }}",  # through Jinja: rendering costs more than the read
    )
    assert not ruleset.cheap_details
    asked: list[str] = []

    def find_open(source_id: str) -> OpenAlert | None:
        asked.append(source_id)
        return OPEN

    assert evaluate({"id": "c", "close": True}, ruleset, find_open).matched == "close"
    assert evaluate({"id": "k", "ack": True}, ruleset, find_open).matched == "ack"
    assert asked == []
    opened = evaluate({"id": "o", "open": True}, ruleset, find_open)
    assert (opened.seen, opened.details) == (OPEN, None)
    assert asked == ["o"]
    assert decide({"id": "c", "close": True}, ruleset, find_open).outcome == "Mapped Closed"
    assert decide({"id": "k", "ack": True}, ruleset, find_open).outcome == "Mapped Acknowledged"


def test_cheap_details_are_rendered_by_settle_without_looking_up_the_alert() -> None:
    """Details that render without Jinja (alertd.rule_templates) are left to settle (in the write
    job), which renders them only for an alert that opens: evaluate reads no alert state. A
    template problem is reported only when the details are used."""
    ruleset = rules(
        open_when={"field": "open", "equals": True},
        title="T {{ id }}",
        url="{{ link }}",
    )
    assert ruleset.cheap_details
    asked: list[str] = []

    def find_open(source_id: str) -> OpenAlert | None:
        asked.append(source_id)
        return OPEN

    evaluation = evaluate({"id": "o", "open": True, "link": "ftp://x"}, ruleset, find_open)
    assert asked == [] and not evaluation.looked and evaluation.details is None
    assert evaluation.render_later is not None
    appended = settle(evaluation, OPEN)
    assert appended is not None and (appended.outcome, appended.title, appended.reason) == ("Mapped Appended", "", "")
    opened = settle(evaluation, None)
    assert opened is not None and (opened.outcome, opened.title) == ("Mapped Open", "T o")
    assert "url dropped" in opened.reason
    assert settle(evaluation, None) == opened  # (a batch run again renders the same)
    # decide (dry runs, tests) looks the alert up itself
    assert decide({"id": "o", "open": True}, ruleset, find_open).outcome == "Mapped Appended"
    assert asked == ["o"]


def test_empty_source_id_and_title() -> None:
    ruleset = rules(open_when={"field": "state", "equals": "firing"}, title="{{ name }}")
    empty = decide({"id": "", "state": "firing"}, ruleset, lambda _s: None)
    assert empty.outcome == "Unmapped" and "source id (id) is missing or empty" in empty.reason
    untitled = decide({"id": "s9", "state": "firing"}, ruleset, lambda _s: None)
    assert (untitled.outcome, untitled.title) == ("Mapped Open", "s9")  # an empty title falls back to the id


def test_details_are_rendered_only_for_a_new_alert_unless_asked() -> None:
    ruleset = rules(open_when={"field": "id", "exists": True}, title="T {{ id }}")
    assert decide({"id": "a"}, ruleset, lambda _s: OPEN).title == ""
    assert decide({"id": "a"}, ruleset, lambda _s: OPEN, render_all=True).title == "T a"


def test_ruleset_needs_a_rule() -> None:
    with pytest.raises(RulesetError, match="at least one of open_when"):
        rules()


def test_rules_errors_in_config_name_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text(
        '[integrations.x]\ntype = "aws_sns"\nruleset = "cloudwatch_alarm"\n'
        '[integrations.x.rules]\nopen_when = { field = "Message^NewStateValue", regex = "(" }\n'
        'title = "{{ unclosed"\n'
        '[integrations.v]\ntype = "aws_sns"\n[integrations.v.rules]\nsource_id = "id"\n'
        'open_when = { field = "a", regex = "(" }\n'
        '[integrations.y]\ntype = "aws_sns"\nruleset = "nope"\n'
        '[integrations.z]\ntype = "aws_sns"\n[integrations.z.rules]\nsource_id = "id"\nopen_whenn = {}\n'
        '[integrations.w]\ntype = "aws_sns"\n[integrations.w.options]\nauto_confirm = true\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, make_manager())
    text = str(info.value)
    assert "integrations.x.rules.title: expected a template; unexpected end of template" in text
    assert "integrations.v.rules.open_when.regex: expected a regular expression; missing )" in text
    assert (
        "integrations.y.ruleset: expected one of the rulesets of aws_sns (cloudtrail_signin_failures, "
        "cloudwatch_alarm, eventbridge_cloudtrail); found string 'nope'" in text
    )
    assert "integrations.z.rules.open_whenn: unknown key (expected one of: ack_when, close_after_quiet," in text
    assert (
        "integrations.w.options: expected topic_arns to list the topics to confirm when auto_confirm = true" in text
        and "(plugin aws_sns)" in text
    )


def test_the_ruleset_models_bound_filter_patterns_as_the_parser_does() -> None:
    # rules_config keeps its own copy (importing the parser would cost the config check its time).
    from alertd import filterpattern, rules_config

    assert rules_config.MAX_PATTERN_CHARS == filterpattern.MAX_PATTERN_CHARS


def test_a_regex_only_re_accepts_is_refused_by_check_config_reload_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `re` accepts "[[:foo:]]" (a set), `regex` (which runs rules) refuses it (an unknown POSIX class).
    path = tmp_path / "a.toml"
    path.write_text(
        '[integrations.v]\ntype = "aws_sns"\n[integrations.v.rules]\nsource_id = "id"\n'
        'open_when = { field = "a", regex = "[[:foo:]]" }\n'
    )
    done = run_cli_in_process("check-config", "-c", str(path))
    assert done.returncode == 1  # problems found
    assert "integrations.v.rules.open_when.regex: expected a regular expression; unknown property" in done.stderr
    with pytest.raises(ConfigError, match=r"integrations\.v\.rules\.open_when\.regex"):
        load_config(path, make_manager())  # what a reload (and an ingest worker) loads
    # `alertd run`'s load: only bytes validated in full before (a kept entry) defer `regex`.
    monkeypatch.setenv("ALERTD_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"integrations\.v\.rules\.open_when\.regex"):
        load_config(path, make_manager(), cached=True)


def test_alertd_run_refuses_a_regex_regex_refuses_naming_the_key(tmp_path: Path) -> None:
    """The daemon does not start on a pattern only `re` accepts: one line with the key path, exit 2
    (it used to start and fail each message of that integration after ready)."""
    from helpers import run_cli, write_config

    config = write_config(
        tmp_path,
        '[integrations.v]\ntype = "aws_sns"\n[integrations.v.rules]\nsource_id = "id"\n'
        'open_when = { field = "a", regex = "[[:foo:]]" }\n',
    )
    result = run_cli("run", "-c", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "integrations.v.rules.open_when.regex" in result.stderr
    assert "FutureWarning" not in result.stderr  # `re`'s own future syntax is not the operator's business
