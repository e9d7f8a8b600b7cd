"""Mapping rules: an inbound message and an integration's ruleset -> a Decision.

Everything here is pure: ``decide(document, ruleset, find_open)`` looks at the
message, the compiled rules and (through ``find_open``) whether an alert with
the same source id is open, and says what should happen. The daemon applies the
decision; ``alertd test-integration`` only prints it.

Fields are addressed AlertOps-style with ``^`` through nested JSON, and a JSON
*string* on the way (SNS's ``Message``) is parsed when a path descends into it:
``Message^NewStateValue``, ``Message^Trigger^MetricName``,
``Message^detail^userIdentity^userName``; a list index is a number
(``Records^0^eventName``).

A ruleset (``[integrations.NAME.rules]`` or a plugin's named default)::

    source_id   = "Message^AlarmArn"          # a field path, or a template
    filter      = { field = "Message^AlarmName", regex = "^prod-" }
    open_when   = { field = "Message^NewStateValue", equals = "ALARM" }
    close_when  = { field = "Message^NewStateValue", equals = ["OK", "INSUFFICIENT_DATA"] }
    ack_when    = { field = "Message^NewStateValue", equals = "ACK" }
    title       = "{{ Message.AlarmName }}: {{ Message.NewStateReason }}"
    description = "{{ Message.AlarmDescription }}"
    severity    = "critical"
    url         = "https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/{{ Message.AlarmName }}"
    tags        = ["aws", "{{ Message.Region }}"]
    [integrations.NAME.rules.fields]
    metric = "{{ Message.Trigger.MetricName }}"

Conditions: ``{ field, equals = value | [values] }``, ``{ field, contains }``,
``{ field, regex }``, ``{ field, exists = true|false }``,
``{ field, gt | gte | lt | lte = number }`` (several combine with "and"),
``{ all = [conditions] }``, ``{ any = [conditions] }``, ``{ not = condition }``;
``ignore_case = true`` applies to equals/contains/regex. ``{ filter_pattern = '{ $.eventName =
ConsoleLogin }', field = "Message^detail" }`` evaluates a CloudWatch Logs filter pattern
(alertd.filterpattern) on the field, or on the whole message without ``field``.

Order of evaluation: ``filter`` (a message that does not match is Filtered),
then ``close_when``, ``ack_when``, ``open_when``; the first that matches decides.
A message that matches none is Unmapped. Templates are Jinja2 in a sandbox; the
message's top-level keys are variables, with JSON strings already parsed
(``Message.AlarmName``), ``raw`` holds the unparsed document, ``source_id`` the
source id, and ``field("a^b")`` reads a path.

Rules run outside the store's writer (see receive.py): ``evaluate`` does the costly part
(conditions, regexes, templates) on a worker thread, ``settle`` the cheap lifecycle part
inside the write job against the alert state as it is then (and, for a ruleset whose detail
templates all render without Jinja, alertd.rule_templates, the details of an alert that opens:
a few dict lookups, no loop, so no read of the alert state is needed before the write). Each
template render has a time and size budget (alertd.sandbox) and each regex a time budget; an
overrun leaves the field empty with the reason, like any failing template. A ``url`` that is not http(s) is
dropped with a reason.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from alertd import jsonlimits
from alertd.decisions import (  # noqa: F401 (re-exported: the mapper's words, from their light module)
    COUNTED,
    DUPLICATE_DELIVERY,
    FILTERED,
    MAPPED_ACKNOWLEDGED,
    MAPPED_APPENDED,
    MAPPED_CLOSED,
    MAPPED_OPEN,
    OUTCOMES,
    REJECTED,
    SUBSCRIPTION_CONFIRMATION,
    UNMAPPED,
    UNSUBSCRIBE_CONFIRMATION,
    Action,
    Decision,
    OpenAlert,
)
from alertd.durations import parse_duration, words
from alertd.rules_config import (  # noqa: F401 (re-exported)
    MAX_QUIET_SECONDS,
    MAX_WINDOW_SECONDS,
    Condition,
    RulesetConfig,
    RulesetError,
    RulesModel,
    Scalar,
    ThresholdConfig,
)
from alertd.weburl import check_http_url

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

# --- documents and field paths ----------------------------------------------------


class Document:
    """A message as the mapper sees it, with JSON strings parsed on demand."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self._parsed: dict[int, Any] = {}
        self.notes: list[str] = []

    def _descend_string(self, value: str, where: str) -> Any:
        key = id(value)
        if key not in self._parsed:
            try:
                # Bounded: a string field holding JSON nested 100,000 deep is data, not a crash.
                self._parsed[key] = jsonlimits.loads(value)
            except ValueError as exc:
                self._parsed[key] = MISSING
                too_deep = isinstance(exc, jsonlimits.JSONTooDeep)
                self.notes.append(f"{where}: {exc}" if too_deep else f"{where} is not JSON")
        return self._parsed[key]

    def get(self, path: str) -> Any:
        value = self.data
        walked: list[str] = []
        for part in path.split("^"):
            if isinstance(value, str):
                value = self._descend_string(value, "^".join(walked) or "the body")
            if isinstance(value, dict):
                value = value.get(part, MISSING)
            elif isinstance(value, list) and part.lstrip("-").isdigit():
                index = int(part)
                value = value[index] if -len(value) <= index < len(value) else MISSING
            else:
                return MISSING
            if value is MISSING:
                return MISSING
            walked.append(part)
        return value

    def template_vars(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(self.data, dict):
            for key, value in self.data.items():
                if isinstance(value, str) and value[:1] in "{[":
                    parsed = self._descend_string(value, key)
                    out[key] = value if parsed is MISSING else parsed
                else:
                    out[key] = value
        out["raw"] = self.data
        return out


# --- compiling ----------------------------------------------------------------------

Predicate = Callable[[Document], bool]
# A rule's regex runs on message data: a pattern that backtracks badly on some input must give up,
# not hold the interpreter (the `regex` module releases the GIL and honours a timeout).
REGEX_SECONDS = 0.25


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def compile_condition(cond: Condition, loc: tuple[Any, ...], shipped: frozenset[str] = frozenset()) -> Predicate:
    combinators = [k for k in ("all", "any", "not_") if getattr(cond, k) is not None]
    operators = [k for k in ("equals", "contains", "regex", "exists") if getattr(cond, k) is not None]
    numeric = [k for k in ("gt", "gte", "lt", "lte") if getattr(cond, k) is not None]
    if combinators:
        if len(combinators) > 1 or operators or numeric or cond.field is not None or cond.filter_pattern is not None:
            raise RulesetError(loc, "a condition is either all/any/not alone, or a field with an operator")
        kind = combinators[0]
        if kind == "not_":
            inner = compile_condition(cond.not_, (*loc, "not"), shipped)  # type: ignore[arg-type]
            return lambda doc: not inner(doc)
        parts = [compile_condition(c, (*loc, kind, i), shipped) for i, c in enumerate(getattr(cond, kind))]
        if not parts:
            raise RulesetError((*loc, kind), f"{kind} needs at least one condition")
        if kind == "all":
            return lambda doc: all(p(doc) for p in parts)
        return lambda doc: any(p(doc) for p in parts)
    if cond.filter_pattern is not None:
        if operators or numeric:
            raise RulesetError(loc, "a filter_pattern condition takes only an optional field beside it")
        return _filter_pattern(cond.filter_pattern, cond.field, (*loc, "filter_pattern"))
    if cond.field is None:
        raise RulesetError(
            loc,
            "expected a field (with equals, contains, regex, exists, gt, gte, lt or lte), "
            "a filter_pattern, or all/any/not",
        )
    if (len(operators) + (1 if numeric else 0)) != 1:
        raise RulesetError(
            loc, "expected exactly one operator: equals, contains, regex, exists, or numeric gt/gte/lt/lte"
        )
    path = cond.field
    fold = (lambda s: s.casefold()) if cond.ignore_case else (lambda s: s)

    if cond.exists is not None:
        want = cond.exists
        return lambda doc: (doc.get(path) is not MISSING and doc.get(path) is not None) == want
    if cond.equals is not None:
        values = cond.equals if isinstance(cond.equals, list) else [cond.equals]
        allowed = {fold(_as_text(v)) for v in values}

        def equals(doc: Document) -> bool:
            value = doc.get(path)
            return value is not MISSING and value is not None and fold(_as_text(value)) in allowed

        return equals
    if cond.contains is not None:
        needle = fold(cond.contains)

        def contains(doc: Document) -> bool:
            value = doc.get(path)
            if isinstance(value, list):
                return any(fold(_as_text(v)) == needle for v in value)
            return value is not MISSING and value is not None and needle in fold(_as_text(value))

        return contains
    if cond.regex is not None:
        try:
            # Checked by `re`: Python's own dialect and messages; run by `regex`, which can time out.
            # (`re`'s FutureWarnings, e.g. "Possible nested set", are about `re`'s own future
            # syntax, not the `regex` that runs the pattern: not printed to the operator.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(cond.regex)
        except re.error as exc:
            raise RulesetError((*loc, "regex"), f"expected a regular expression; {exc}") from None
        from alertd import lazy_regex

        pattern = lazy_regex.LazyRegex(cond.regex, bool(cond.ignore_case))
        # A plugin's own pattern (tested with it), and any on `alertd run`'s start from a kept
        # entry, compile just after ready; an operator's is compiled now, so `regex` may refuse it.
        if lazy_regex.eager() and cond.regex not in shipped:
            import regex

            try:
                pattern.compile_now()
            except regex.error as exc:
                raise RulesetError((*loc, "regex"), f"expected a regular expression; {exc}") from None

        def matches(doc: Document) -> bool:
            value = doc.get(path)
            if value is MISSING or value is None:
                return False
            try:
                return pattern.search(_as_text(value), timeout=REGEX_SECONDS, concurrent=True) is not None
            except TimeoutError:
                doc.notes.append(f"regex on {path} gave up after {REGEX_SECONDS:g} s")
                return False

        return matches
    bounds = [(op, float(getattr(cond, op))) for op in numeric]
    tests = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}

    def compare(doc: Document) -> bool:
        number = _as_number(doc.get(path))
        return number is not None and all(tests[op](number, bound) for op, bound in bounds)

    return compare


def _filter_pattern(text: str, path: str | None, loc: tuple[Any, ...]) -> Predicate:
    from alertd import filterpattern

    try:
        pattern = filterpattern.compile_pattern(text)
    except filterpattern.FilterPatternError as exc:
        raise RulesetError(loc, f"expected a CloudWatch Logs filter pattern; {exc}") from None

    def matches(doc: Document) -> bool:
        value = doc.data if path is None else doc.get(path)
        return value is not MISSING and value is not None and pattern.matches(value)

    return matches


def matches_condition(data: dict[str, Any] | None, document: Any) -> bool:
    """Whether a condition given as data (a maintenance window's match, a route's when) holds for
    a message; None holds always. For conditions already checked by the config or the API."""
    if data is None:
        return True
    return compile_condition(Condition.model_validate(data), ())(Document(document))


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@cache
def _environment() -> Any:
    # jinja2 is imported when the first template is compiled, not with the module.
    from jinja2 import ChainableUndefined

    from alertd import sandbox

    return sandbox.BoundedSandbox(undefined=ChainableUndefined, autoescape=False)


def _compile_template(text: str, loc: tuple[Any, ...], shipped: frozenset[str] = frozenset()) -> Any:
    from alertd.lazy_template import LazyTemplate, needs_compiler_check
    from alertd.rule_templates import RuleTemplate

    if text in shipped:  # a plugin's own ruleset text: compiled (and jinja2 imported) by the first render
        return RuleTemplate(text, LazyTemplate(_environment, text))
    from jinja2 import TemplateSyntaxError

    env = _environment()
    try:
        # Parsed now (the syntax); compiled to Python on first render, unless only the compiler can
        # judge the template (an unknown filter name ...): parsing is a fifth of compiling.
        if needs_compiler_check(env, env.parse(text)):
            return RuleTemplate(text, env.from_string(text))
        return RuleTemplate(text, LazyTemplate(_environment, text))
    except TemplateSyntaxError as exc:
        raise RulesetError(loc, f"expected a template; {exc.message} (line {exc.lineno})") from None


@dataclass
class CompiledRuleset:
    config: RulesetConfig
    source_id: Callable[[Document, Variables], str | None]
    filter: Predicate | None
    open_when: Predicate | None
    close_when: Predicate | None
    ack_when: Predicate | None
    templates: dict[str, Any]
    tag_templates: list[Any]
    field_templates: dict[str, Any]
    threshold: Threshold | None = None
    quiet_seconds: float | None = None
    # Every detail template renders without Jinja (alertd.rule_templates): a few dict lookups, with
    # no loop whatever the message, so they may render in the writer's job (``settle``), only for
    # the alert that opens, instead of a read before it to learn whether one will.
    cheap_details: bool = False


@dataclass(frozen=True)
class Threshold:
    count: int
    within_seconds: float
    group: Callable[[Document, Variables], str | None] | None  # None: the source id

    def template_vars(self) -> dict[str, Any]:
        return {"count": self.count, "within": words(self.within_seconds), "seconds": self.within_seconds}


Variables = Callable[[], dict[str, Any]]  # a message's template variables, made on first use


def _value_or_template(
    text: str, loc: tuple[Any, ...], shipped: frozenset[str] = frozenset()
) -> Callable[[Document, Variables], str | None]:
    """A field path, or a template when it holds {{ or {% (source_id, threshold.group_by)."""
    if _is_template(text):
        template = _compile_template(text, loc, shipped)

        def rendered(doc: Document, variables: Variables) -> str | None:
            return template.render(variables()).strip() or None

        return rendered

    def at_path(doc: Document, variables: Variables) -> str | None:
        value = doc.get(text)
        return None if value is MISSING or value is None or value == "" else _as_text(value)

    return at_path


def compile_ruleset(config: RulesetConfig, shipped: frozenset[str] = frozenset()) -> CompiledRuleset:
    """``shipped``: the template texts and patterns of the plugin's own ruleset this one is built
    on (tested with the plugin, so not parsed or compiled at load: see alertd.lazy_template and
    alertd.lazy_regex)."""

    def cond(name: str) -> Predicate | None:
        value = getattr(config, name)
        return None if value is None else compile_condition(value, (name,), shipped)

    source_id = _value_or_template(config.source_id, ("source_id",), shipped)
    threshold = None
    if config.threshold is not None:
        group_by = config.threshold.group_by
        threshold = Threshold(
            count=config.threshold.count,
            within_seconds=parse_duration(config.threshold.within, least=1, most=MAX_WINDOW_SECONDS),
            group=None if group_by is None else _value_or_template(group_by, ("threshold", "group_by"), shipped),
        )
        if config.open_when is None:
            raise RulesetError(("threshold",), "a threshold counts matches of open_when: add an open_when rule")

    templates = {}
    for name in ("title", "description", "severity", "url"):
        text = getattr(config, name)
        if text is not None:
            templates[name] = _compile_template(text, (name,), shipped)
    if not any((config.open_when, config.close_when, config.ack_when)):
        raise RulesetError((), "a ruleset needs at least one of open_when, close_when, ack_when")
    tag_templates = [_compile_template(t, ("tags", i), shipped) for i, t in enumerate(config.tags)]
    field_templates = {k: _compile_template(v, ("fields", k), shipped) for k, v in config.fields.items()}
    return CompiledRuleset(
        config=config,
        source_id=source_id,
        filter=cond("filter"),
        open_when=cond("open_when"),
        close_when=cond("close_when"),
        ack_when=cond("ack_when"),
        templates=templates,
        tag_templates=tag_templates,
        field_templates=field_templates,
        cheap_details=all(t.direct for t in (*templates.values(), *tag_templates, *field_templates.values())),
        threshold=threshold,
        quiet_seconds=None
        if config.close_after_quiet is None
        else parse_duration(config.close_after_quiet, least=1, most=MAX_QUIET_SECONDS),
    )


# --- deciding -----------------------------------------------------------------------


class _Variables:
    """A message's template variables, made on first use (a match on field paths needs none)."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.extra: dict[str, Any] = {}
        self.made: dict[str, Any] | None = None

    def __call__(self) -> dict[str, Any]:
        if self.made is None:
            self.made = {**self.doc.template_vars(), **self.extra}
        return self.made

    def __setitem__(self, key: str, value: Any) -> None:
        self.extra[key] = value
        if self.made is not None:
            self.made[key] = value


class _Renderer:
    """Renders a message's templates; a template that fails on odd data yields "" and a note, never an error."""

    def __init__(self, variables: Variables) -> None:
        self.variables = variables
        self.problems: list[str] = []

    def __call__(self, name: str, template: Any) -> str:
        try:
            return template.render(self.variables()).strip()
        except Exception as exc:
            self.problems.append(f"{name} template failed: {type(exc).__name__}: {exc}"[:300])
            return ""


def _why_not(doc: Document) -> str:
    return "; ".join(dict.fromkeys(doc.notes))


def _link(render: _Renderer, template: Any) -> str:
    url, problem = check_http_url(render("url", template))
    if problem:
        render.problems.append(f"url dropped: {problem}")
    return url


def _render_details(ruleset: CompiledRuleset, render: _Renderer, source_id: str) -> dict[str, Any]:
    templates = ruleset.templates
    return {
        "title": render("title", templates["title"])[:500] or source_id,
        "description": render("description", templates["description"]) if "description" in templates else "",
        "severity": render("severity", templates["severity"]) or "critical",
        "url": _link(render, templates["url"]) if "url" in templates else "",
        "tags": tuple(t for t in (render(f"tags[{i}]", x) for i, x in enumerate(ruleset.tag_templates)) if t),
        # An empty field (the event had no errorMessage) is left out rather than kept blank.
        "fields": {k: v for k, v in ((k, render(f"fields.{k}", t)) for k, t in ruleset.field_templates.items()) if v},
    }


Details = Literal["opening", "open_rule", "always"]


@dataclass(frozen=True)
class Evaluation:
    """What the rules say about one message, before the alert state is known for sure.

    ``decision`` is set when the alert state cannot change the outcome (filtered, unmapped);
    otherwise ``matched`` is the rule that matched and ``source_id`` the alert it is about.
    ``details`` (title, fields ...) is None when they were not rendered (``render_later``
    renders them, for a ruleset with ``cheap_details``); ``seen`` is the alert state the
    evaluation looked at (only when ``looked``: for the open rule's match of a ruleset without
    ``cheap_details``, or with ``always``). ``detail_problems``: why a detail came out empty,
    reported only when the details are used (an alert opens)."""

    decision: Decision | None = None
    matched: Action | None = None
    source_id: str | None = None
    details: dict[str, Any] | None = None
    problems: tuple[str, ...] = ()
    seen: OpenAlert | None = None
    show_details: bool = False
    group: str | None = None  # the threshold's group, when the open rule matched a ruleset with one
    looked: bool = False
    detail_problems: tuple[str, ...] = ()
    render_later: Callable[[], tuple[dict[str, Any], tuple[str, ...]]] | None = None


def evaluate(
    data: Any,
    ruleset: CompiledRuleset,
    find_open: Callable[[str], OpenAlert | None] | None,
    details: Details = "opening",
) -> Evaluation:
    """The costly part of deciding: conditions, regexes, templates.

    ``details`` says when to render the alert's title, fields ...: ``opening`` only when the
    message opens an alert given ``find_open`` (nothing else uses them), ``open_rule`` whenever
    the open rule matched (then the alert state may change before ``settle`` without a second
    evaluation; ``find_open`` may be None), ``always`` (dry runs show them)."""
    doc = data if isinstance(data, Document) else Document(data)
    if ruleset.filter is not None and not ruleset.filter(doc):
        reason = "did not match the filter"
        if doc.notes:
            reason += f" ({_why_not(doc)})"
        return Evaluation(Decision("filtered", FILTERED, reason=reason))
    tvars = _Variables(doc)
    render = _Renderer(tvars)
    try:
        source_id = ruleset.source_id(doc, tvars)
    except Exception as exc:
        render.problems.append(f"source_id template failed: {type(exc).__name__}: {exc}"[:300])
        source_id = None
    matched: Action | None = None
    for action, predicate in (
        ("close", ruleset.close_when),
        ("ack", ruleset.ack_when),
        ("open", ruleset.open_when),
    ):
        if predicate is not None and predicate(doc):
            matched = action  # type: ignore[assignment]
            break
    if matched is None:
        reason = "no open, close or acknowledge rule matched"
        if doc.notes:
            reason += f" ({_why_not(doc)})"
        return Evaluation(Decision("unmapped", UNMAPPED, source_id=source_id, reason=reason))
    if source_id is None:
        reason = f"{matched} rule matched but the source id ({ruleset.config.source_id}) is missing or empty"
        return Evaluation(Decision("unmapped", UNMAPPED, reason="; ".join([reason, *render.problems])))
    tvars["source_id"] = source_id
    tvars["field"] = lambda path: (lambda v: "" if v is MISSING else v)(doc.get(path))
    group = None
    if ruleset.threshold is not None:
        tvars["threshold"] = ruleset.threshold.template_vars()
        if matched == "open":
            group = source_id
            if ruleset.threshold.group is not None:
                try:
                    group = ruleset.threshold.group(doc, tvars) or ""
                except Exception as exc:
                    render.problems.append(f"threshold.group_by template failed: {type(exc).__name__}: {exc}"[:300])
                    group = ""
    problems = tuple(render.problems)
    render_later = None
    if details == "opening" and matched == "open" and ruleset.cheap_details:
        # No read (after every commit a reader refills its page cache): settle renders the details
        # if the alert opens (a few lookups, in the writer's job), a repeat renders nothing.
        def later() -> tuple[dict[str, Any], tuple[str, ...]]:
            fresh = _Renderer(tvars)
            return _render_details(ruleset, fresh, source_id), tuple(fresh.problems)

        render_later, details = later, "open_rule"
    # The alert state matters here only to decide whether to render (the writer settles against its
    # own read): no lookup for a close or ack rule's match (a read on a reader connection each).
    looked = find_open is not None and (details == "always" or (matched == "open" and details == "opening"))
    seen = find_open(source_id) if looked else None  # type: ignore[misc]
    if render_later is None and (
        details == "always" or (matched == "open" and (details == "open_rule" or seen is None))
    ):
        rendered: dict[str, Any] | None = _render_details(ruleset, render, source_id)
    else:
        rendered = None
    return Evaluation(
        matched=matched,
        source_id=source_id,
        details=rendered,
        problems=problems,
        seen=seen,
        show_details=details == "always",
        group=group,
        looked=looked,
        detail_problems=tuple(render.problems[len(problems) :]),
        render_later=render_later,
    )


def settle(evaluation: Evaluation, existing: OpenAlert | None) -> Decision | None:
    """The cheap part: the decision given the alert state now (rendering the details of an alert
    that opens when ``evaluate`` left them to ``render_later``). None when that state needs the
    alert's details and ``evaluate`` did not render them (evaluate again with ``open_rule``)."""
    if evaluation.decision is not None:
        return evaluation.decision
    matched, source_id = evaluation.matched, evaluation.source_id
    opens = matched == "open" and existing is None
    rendered, detail_problems = evaluation.details, evaluation.detail_problems
    if opens and rendered is None:
        if evaluation.render_later is None:
            return None
        rendered, detail_problems = evaluation.render_later()
    shown = opens or evaluation.show_details
    details = rendered if shown and rendered else {}
    problems = [*evaluation.problems, *(detail_problems if shown else ())]
    notes = "; ".join(problems)

    if matched == "open":
        if existing is None:
            return Decision("open", MAPPED_OPEN, source_id=source_id, **details, reason=notes)
        return Decision("append", MAPPED_APPENDED, source_id=source_id, alert_id=existing.id, **details, reason=notes)
    if existing is None:
        return Decision(
            "unmapped",
            UNMAPPED,
            source_id=source_id,
            **details,
            reason="; ".join([f"{matched} rule matched but no alert is open for this source id", *problems]),
        )
    if existing.merged:
        # A duplicate's source does not close or acknowledge the alert it was merged into.
        reason = f"{matched} rule matched; this source's alert was merged into #{existing.id}"
        return Decision(
            "append",
            MAPPED_APPENDED,
            source_id=source_id,
            alert_id=existing.id,
            **details,
            reason="; ".join([reason, *problems]),
        )
    if matched == "close":
        return Decision("close", MAPPED_CLOSED, source_id=source_id, alert_id=existing.id, **details, reason=notes)
    if existing.status == "acknowledged":
        return Decision(
            "append",
            MAPPED_APPENDED,
            source_id=source_id,
            alert_id=existing.id,
            **details,
            reason="; ".join(["already acknowledged", *problems]),
        )
    return Decision("ack", MAPPED_ACKNOWLEDGED, source_id=source_id, alert_id=existing.id, **details, reason=notes)


def counted(decision: Decision, matches: int, needed: int, within: float) -> Decision:
    """An opening held back by the rule's threshold: ``matches`` of ``needed`` so far in the window."""
    reason = f"{matches} of {needed} matches within {words(within)}; the alert opens at {needed}"
    return Decision(
        "counted",
        f"{COUNTED} ({matches} of {needed})",
        source_id=decision.source_id,
        reason="; ".join(filter(None, [reason, decision.reason])),
    )


def decide(
    data: Any,
    ruleset: CompiledRuleset,
    find_open: Callable[[str], OpenAlert | None],
    render_all: bool = False,
) -> Decision:
    """Decide what one message does, given the rules and the alert currently open for it
    (evaluate and settle in one go: dry runs and tests).

    The alert's title, fields ... are rendered only when the decision opens an alert (nothing
    else uses them), or always with ``render_all`` (dry runs show them)."""
    evaluation = evaluate(data, ruleset, find_open, "always" if render_all else "opening")
    existing = evaluation.seen
    if evaluation.decision is None and not evaluation.looked:
        assert evaluation.source_id is not None
        existing = find_open(evaluation.source_id)  # evaluate did not look (see there)
    decision = settle(evaluation, existing)
    assert decision is not None  # the details were rendered for the state settle sees
    return decision
