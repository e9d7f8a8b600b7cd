"""Rule templates are parsed when the config loads and compiled on their first render; what only
jinja2's compiler refuses is still refused at load, with the key path."""

from __future__ import annotations

import pytest

from alertd.lazy_template import LazyTemplate
from alertd.mapping import RulesetError, compile_ruleset, decide
from alertd.rules_config import RulesetConfig


def rules(**spec: object) -> object:
    return compile_ruleset(
        RulesetConfig.model_validate({"source_id": "id", "open_when": {"field": "id", "exists": True}, **spec})
    )


def test_templates_compile_on_first_render_and_render_as_before() -> None:
    ruleset = rules(title="{{ name | upper }} on {{ host }}", fields={"where": "{% if host %}{{ host }}{% endif %}"})
    title = ruleset.templates["title"]
    assert isinstance(title, LazyTemplate) and title._template is None  # parsed, not compiled
    decision = decide({"id": "1", "name": "disk", "host": "h1"}, ruleset, lambda _s: None)
    assert (decision.title, decision.fields) == ("DISK on h1", {"where": "h1"})
    assert title._template is not None
    assert title.render(name="x", host="y") == "X on y"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ oops", "expected a template; unexpected end of template"),
        ("{{ name | no_such_filter }}", "expected a template; No filter named 'no_such_filter'."),
        ("{{ name is no_such_test }}", "expected a template; No test named 'no_such_test'."),
        ("{% for a, loop in pairs %}{% endfor %}", "Can't assign to special loop variable"),
        ("{% block a %}{% endblock %}{% block a %}{% endblock %}", "expected a template; block 'a' defined twice"),
        ("{% for loop in names %}{% endfor %}", "Can't assign to special loop variable"),
    ],
)
def test_what_the_compiler_refuses_is_refused_at_load(template: str, message: str) -> None:
    with pytest.raises(RulesetError) as info:
        rules(title=template)
    assert info.value.loc == ("title",)
    assert message in info.value.message
