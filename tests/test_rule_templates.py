"""Rule templates rendered without Jinja (alertd.rule_templates) give what the sandbox gives."""

from __future__ import annotations

from typing import Any

import pytest

from alertd import sandbox
from alertd.mapping import RulesetConfig, RulesetError, _compile_template, compile_ruleset
from alertd.rule_templates import RuleTemplate

DATA: dict[str, Any] = {
    "Message": {
        "AlarmName": "cpu <high> & {x}",
        "Count": 3,
        "Ratio": 1.5,
        "Whole": 2.0,
        "On": True,
        "Zero": 0,
        "Nothing": None,
        "List": [1, "a", {"b": 2}],
        "Trigger": {"MetricName": "CPUUtilization", "Dimensions": [{"name": "i"}]},
        "items": "a key named like a dict method",
        "": "empty key",
    },
    "Text": "not json {",
    "TopicArn": "arn:aws:sns:us-east-1:1:t",
    "raw": {"Message": "{}"},
    "field": lambda path: path,
}

TEMPLATES = [
    "critical",
    "",
    "   spaced   ",
    "{{ Message.AlarmName }}: {{Message.Count}} {{ Message.Ratio }} {{ Message.Whole }}",
    "{{ Message.On }}/{{ Message.Nothing }}/{{ Message.List }}/{{ Message.Trigger }}",
    "{{ Message.Trigger.MetricName }} {{ Message.Trigger.Missing.Deeper }} {{ Nope }} {{ Nope.x }}",
    "{{ Message.items }}|{{ Message.keys }}|{{ Message.__class__ }}",  # dict attributes: Jinja's answer
    "{{ Text.AlarmName }}|{{ Text.upper }}|{{ Message.AlarmName.x }}",  # not a dict on the way
    "{{ TopicArn }} }} {",
    "{{ true }} {{ none }} {{ range }}",
    "{{ field }}",
    "a {# comment #} b {{ TopicArn }}",
    "{{- TopicArn -}} x",
    "{{ TopicArn }}\n",
    "line\r\n{{ TopicArn }}",
    "{{ Message.AlarmName | upper }} {{ Message['AlarmName'] }}",
    "{{ Message.AlarmName | urlencode }}|{{ Message.AlarmName|lower|trim }}|{{ TopicArn | upper }}",
    "{{ Message.Count | urlencode }}|{{ Message.List | upper }}|{{ Nope | urlencode }}|{{ Message.No | lower }}",
    "https://x/?region={{ TopicArn.split(':')[3] }}&a={{ TopicArn.split(\":\")[-1] | urlencode }}",
    "{{ TopicArn.split(':')[9] }}|{{ Nope.split(':')[0] }}|{{ Message.Nothing.split(':')[0] }}",
    "{{ Message.Count.split(':')[0] }}",  # an error, from Jinja
    "{{ TopicArn.split('')[0] }}",  # an error, from Jinja
    "{{ TopicArn.split(':')[1] | title }}|{{ TopicArn.split(':', 1)[0] }}|{{ TopicArn.split(':') }}",
    "{{ Message.split }}|{{ Message.AlarmName | urlencode(1) }}",
    "{{ Nope or Message.Count or 'x' }}|{{ Message.Nothing or Message.Whole }}|{{ Nope or Nope2 }}|{{ Nope or '' }}",
    "{{ Message.On or 'x' }}|{{ 'lit' or Nope }}|{{ \"\" or Message.List }}|{{ Message.Zero or Text }}",
    "{{ Nope or TopicArn.split(':')[2] | upper }}|{{ Message.AlarmName or Nope.split(':')[0] }}",
    "{{ Nope or Nope.split(':')[0] }}",  # Jinja's answer (an undefined split)
    "{{ Message.Count|upper or 'x' }}|{{ 'a}}' }}x",
    "{{ TopicArn or\n Text }}|{{ Text and TopicArn }}|{{ TopicArn if Text }}|{{ 'a' ~ Text }}",
]


def _outcome(render: Any) -> tuple[str, str]:
    try:
        return "ok", render()
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", TEMPLATES)
def test_direct_rendering_matches_the_sandbox(text: str) -> None:
    template = _compile_template(text, ("title",))
    assert isinstance(template, RuleTemplate)
    expected = _outcome(lambda: sandbox.render(template.jinja, DATA, seconds=1.0, max_chars=sandbox.RULE_MAX_CHARS))
    assert _outcome(lambda: template.render(DATA)) == expected


def test_plain_text_and_lookups_skip_jinja() -> None:
    assert _compile_template("critical", ()).direct
    assert _compile_template("{{ Message.AlarmName }}: {{ Message.NewStateReason }}", ()).direct
    from alertd_aws_sns.rulesets import CLOUDWATCH_ALARM

    ruleset = compile_ruleset(RulesetConfig.model_validate(CLOUDWATCH_ALARM))
    every = [*ruleset.templates.values(), *ruleset.tag_templates, *ruleset.field_templates.values()]
    assert all(t.direct for t in every), [t.source for t in every if not t.direct]
    from alertd_inbound_webhook.rulesets import GENERIC

    assert compile_ruleset(RulesetConfig.model_validate(GENERIC)).cheap_details
    assert _compile_template("{{ Message.AlarmArn.split(':')[3] }}/{{ Message.AlarmName | urlencode }}", ()).direct
    needs_jinja = ("{{ x | title }}", "{{ x.split(':') }}", "{{ x.split(':', 1)[0] }}", "{% if x %}y{% endif %}")
    for text in (*needs_jinja, "{{ true }}", "{{ m.items }}", "a\n"):
        assert not _compile_template(text, ()).direct, text


def test_a_direct_template_over_the_output_budget_fails_like_the_sandbox() -> None:
    template = _compile_template("{{ a }}{{ a }}", ("title",))
    assert template.direct
    with pytest.raises(sandbox.BudgetExceeded, match="output longer than 65536 characters"):
        template.render({"a": "x" * 40000})


def test_a_template_syntax_error_still_names_the_key() -> None:
    with pytest.raises(RulesetError) as info:
        spec = {"source_id": "id", "open_when": {"field": "id", "exists": True}, "title": "{{ x"}
        compile_ruleset(RulesetConfig.model_validate(spec))
    assert info.value.loc == ("title",)


def test_generated_templates_match_the_sandbox() -> None:
    """Operands, splits, filters and ``or`` chains drawn at random (fixed seed) over odd data."""
    import random

    rng = random.Random(15)
    names = ["Message", "Text", "TopicArn", "Nope", "raw"]
    keys = ["AlarmName", "Count", "Ratio", "On", "Zero", "Nothing", "List", "Trigger", "MetricName", "items", "x"]
    data = {**DATA, "Message": {**DATA["Message"], "Empty": "", "Arn": "a:b::d", "Zero": 0}}
    keys += ["Empty", "Arn"]

    def operand() -> str:
        roll = rng.random()
        if roll < 0.15:
            return rng.choice(["'lit'", "''", '"q"'])
        text = rng.choice(names) + "".join(f".{rng.choice(keys)}" for _ in range(rng.randrange(3)))
        if rng.random() < 0.2:
            text += f".split({rng.choice([repr(':'), repr('b'), repr('::')])})[{rng.randrange(-4, 5)}]"
        for _ in range(rng.choice([0, 0, 1, 2])):
            text += f" | {rng.choice(['urlencode', 'lower', 'upper', 'trim'])}"
        return text

    direct = 0
    for _ in range(600):
        blocks = [" or ".join(operand() for _ in range(rng.randrange(1, 4))) for _ in range(rng.randrange(1, 3))]
        text = "x " + " - ".join(f"{{{{ {b} }}}}" for b in blocks)
        template = _compile_template(text, ("title",))
        direct += template.direct
        expected = _outcome(lambda t=template: sandbox.render(t.jinja, data, seconds=1.0, max_chars=65536))
        assert _outcome(lambda t=template: t.render(data)) == expected, text
    assert direct > 500
