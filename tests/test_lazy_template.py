"""Rule templates are parsed when the config loads and compiled on their first render; what only
jinja2's compiler refuses is still refused at load, with the key path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alertd.lazy_template import LazyTemplate
from alertd.mapping import RulesetError, compile_ruleset, decide
from alertd.rules_config import RulesetConfig
from helpers import SAMPLES
from inbound_fixtures import shipped_rules_config


def rules(**spec: object) -> object:
    return compile_ruleset(
        RulesetConfig.model_validate({"source_id": "id", "open_when": {"field": "id", "exists": True}, **spec})
    )


def test_templates_compile_on_first_render_and_render_as_before() -> None:
    # (capitalize: a filter alertd.rule_templates does not render itself, so Jinja renders the title)
    ruleset = rules(
        title="{{ name | capitalize }} on {{ host }}",
        fields={"where": "{% if host %}{{ host }}{% endif %}", "plain": "{{ host | upper }}"},
    )
    title = ruleset.templates["title"].jinja
    plain = ruleset.field_templates["plain"].jinja
    assert isinstance(title, LazyTemplate) and title._template is None  # parsed, not compiled
    decision = decide({"id": "1", "name": "disk", "host": "h1"}, ruleset, lambda _s: None)
    assert (decision.title, decision.fields) == ("Disk on h1", {"where": "h1", "plain": "H1"})
    assert title._template is not None
    assert plain._template is None  # rendered directly: never compiled
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


def _templates(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if "{{" in value or "{%" in value else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [t for item in items for t in _templates(item)]


def test_every_template_a_plugin_ships_compiles() -> None:
    # Shipped rulesets' templates are not parsed at load (alertd.lazy_template): here they are,
    # for every plugin in this repository.
    from alertd.mapping import _environment
    from alertd.plugins import make_manager

    pm = make_manager()
    shipped = [
        (it.name, name, text)
        for group in pm.hook.alertd_inbound_types()
        for it in group or []
        for name, ruleset in it.rulesets.items()
        for text in _templates(ruleset)
    ]
    assert len(shipped) > 20
    for owner, ruleset, text in shipped:
        template = _environment().from_string(text)  # raises on any error the compiler finds
        assert template is not None, (owner, ruleset)


# A config whose rules are all a plugin's own: loading it imports no jinja2 (a tenth of the time to
# ready); the first message renders its title all the same.
NO_JINJA_AT_LOAD = """
import json, sys
from pathlib import Path

from alertd.config import load_config
from alertd.mapping import decide
from alertd.plugins import make_manager

config = load_config(Path(sys.argv[1]), make_manager())
loaded_at_load = "jinja2" in sys.modules
sample = json.loads(Path(sys.argv[2]).read_text())["body"]
decision = decide(sample, config.integrations["alarms"].ruleset, lambda _s: None)
print(json.dumps([loaded_at_load, decision.outcome, decision.title, "jinja2" in sys.modules]))
"""


def test_a_config_with_only_shipped_rules_loads_without_jinja2(tmp_path: Path) -> None:
    config = shipped_rules_config(tmp_path)
    sample = SAMPLES / "sns-cloudwatch-alarm-ALARM.json"
    result = subprocess.run(
        [sys.executable, "-c", NO_JINJA_AT_LOAD, str(config), str(sample)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded_at_load, outcome, title, loaded_after = json.loads(result.stdout)
    assert loaded_at_load is False
    assert outcome == "Mapped Open" and "ConsoleSignInFailures" in title and loaded_after is True


def test_compile_waiting_compiles_what_only_jinja_renders() -> None:
    from alertd.lazy_template import compile_waiting

    ruleset = rules(title="{{ name | capitalize }}", fields={"plain": "{{ host | upper }}"})
    title = ruleset.templates["title"].jinja
    plain = ruleset.field_templates["plain"].jinja
    assert not title.compiled and not plain.compiled
    assert compile_waiting() >= 1
    assert title.compiled  # the first message will not compile it
    assert not plain.compiled  # rendered without Jinja: not worth compiling
    assert compile_waiting() == 0 or title.compiled  # (other tests' templates may be alive too)
    decision = decide({"id": "1", "name": "disk", "host": "h1"}, ruleset, lambda _s: None)
    assert (decision.title, decision.fields) == ("Disk", {"plain": "H1"})


OPERATOR_RULES = """
[integrations.plain]
type = "webhook"
token = "webhook-open-token-0123456789abcdefgh"
[integrations.plain.options]
delivery_id_header = ""
[integrations.plain.rules]
source_id = "{{ data[0].id }}-{{ data[0].host | lower }}"
open_when = { field = "labels^severity", regex = "^PA", ignore_case = true }
title = "{{ data[0].name | capitalize }} on {% if data[0].host %}{{ data[0].host }}{% else %}?{% endif %}"
"""


def test_the_daemon_compiles_operator_templates_just_after_ready(tmp_path: Path) -> None:
    from helpers import DaemonProcess, write_config
    from inbound_fixtures import Db

    config = write_config(tmp_path, OPERATOR_RULES)
    with DaemonProcess(config) as daemon:
        # After ready, before any message: the source_id and the title (only Jinja renders them).
        # The operator's regex was compiled at load (a first start: `regex` may refuse it there).
        compiled = daemon.wait_for("event=rules.compiled")
        assert "templates=2 regexes=0" in compiled
        assert daemon.lines.index(compiled) > daemon.lines.index(daemon.wait_for("event=http.listening"))
        payload = {"data": [{"id": "d1", "name": "disk full", "host": "DB1"}], "labels": {"severity": "page"}}
        r = daemon.post("/in/webhook-open-token-0123456789abcdefgh", json=payload)
        assert r.status_code == 200, r.text
    (alert,) = Db(config.parent / "alertd.db").alerts()
    assert (alert["source_id"], alert["title"]) == ("d1-db1", "Disk full on DB1")


def test_a_rule_regex_is_checked_at_load_and_compiled_on_first_use() -> None:
    from alertd.lazy_regex import LazyRegex, compile_waiting, deferred

    with pytest.raises(RulesetError, match="expected a regular expression"):
        rules(filter={"field": "name", "regex": "(unclosed"})
    with deferred():  # as `alertd run`'s start loads its config
        ruleset = rules(filter={"field": "name", "regex": "^disk", "ignore_case": True})
        other = rules(filter={"field": "name", "regex": "x+"})
    pattern = ruleset.filter.__closure__  # (the condition's compiled pattern is in its closure)
    lazy = next(c.cell_contents for c in pattern if isinstance(c.cell_contents, LazyRegex))
    assert not lazy.compiled
    assert decide({"id": "1", "name": "DISK full"}, ruleset, lambda _s: None).outcome == "Mapped Open"
    assert decide({"id": "1", "name": "cpu"}, ruleset, lambda _s: None).outcome == "Filtered"
    assert lazy.compiled
    assert compile_waiting() >= 1  # what the daemon's post-ready step does
    assert all(c.cell_contents.compiled for c in other.filter.__closure__ if isinstance(c.cell_contents, LazyRegex))


NO_REGEX_AT_LOAD = """
import sys
from pathlib import Path

from alertd.config import load_config
from alertd.plugins import make_manager

config = load_config(Path(sys.argv[1]), make_manager(), cached=True)  # `alertd run`'s start
print("regex" in sys.modules)
"""


def test_a_config_with_a_shipped_regex_rule_loads_without_the_regex_module(tmp_path: Path) -> None:
    config = shipped_rules_config(tmp_path, "events", "eventbridge_cloudtrail")
    result = subprocess.run(
        [sys.executable, "-c", NO_REGEX_AT_LOAD, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ALERTD_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("kind", ["regex", "template"])
def test_compile_waiting_lists_them_while_another_thread_makes_more(kind: str) -> None:
    # The daemon runs compile_waiting on a worker thread just after ready (thread switches every
    # 0.5 ms then) while other threads may make more (a reload, a maintenance window's match):
    # listing a WeakSet that grows meanwhile raised "Set changed size during iteration".
    import threading

    from alertd import lazy_regex, lazy_template

    def make() -> object:
        if kind == "regex":
            return lazy_regex.LazyRegex("b", False)
        return LazyTemplate(lambda: None, "{{ x }}")  # type: ignore[arg-type,return-value]  (direct: never compiled)

    kept = [make() for _ in range(20_000)]
    compile_waiting = lazy_regex.compile_waiting if kind == "regex" else lazy_template.compile_waiting
    compile_waiting()
    stop = threading.Event()

    def make_more() -> None:
        while not stop.is_set():
            make()

    maker = threading.Thread(target=make_more)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    maker.start()
    try:
        for _ in range(20 if kind == "regex" else 2):  # (a template's listing is slower: each is looked at)
            compile_waiting()
    finally:
        stop.set()
        maker.join()
        sys.setswitchinterval(interval)
    assert len(kept) == 20_000
