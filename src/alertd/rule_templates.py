"""A rule's template (title, fields, tags, source_id ...), compiled once per ruleset.

Most rule templates are plain text (``"critical"``) or text around field lookups
(``"{{ Message.AlarmName }}: {{ Message.NewStateReason }}"``, at most with a
``.split(':')[3]``, filters such as ``| urlencode``, and ``or`` between lookups and
string literals: ``{{ dedup_key or id or title }}``). Rendering those through Jinja costs
a context, a generator and a sandbox check per attribute, for every alert opened (the default
CloudWatch ruleset's 14 renders were half of a new alarm's CPU); here they are rendered by
walking the message's dicts directly, with the same result as the sandbox (``str`` of the
value, an unknown name or key renders as ``""`` and is false in ``or``, as
ChainableUndefined is). Anything else, or data the walk does not handle exactly like Jinja
would (a non-dict on the way, a key that is a dict attribute, a split index out of range),
renders through the sandbox (alertd.sandbox) with its time and size budgets. Each direct step is linear in the value's
size, with no loop: cheap and bounded whatever the message.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from alertd.template_budgets import MAX_VALUE_CHARS, RULE_MAX_CHARS, RULE_SECONDS

# Filters taken directly: one argument, output linear in the input (Jinja's own functions).
_FILTERS = ("urlencode", "lower", "upper", "trim")
_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# One operand inside ``{{ }}``: a string literal, or ``name.key.key`` optionally followed by
# ``.split('sep')[index]`` and ``| filter``s. Operands are joined by ``or``; anything else goes
# to Jinja.
_TERM = re.compile(
    r"\s*(?:'(?P<sq_lit>[^'\\]*)'|\"(?P<dq_lit>[^\"\\]*)\""
    r"|(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.(?!split\()[A-Za-z_][A-Za-z0-9_]*)*)"
    r"(?:\.split\(\s*(?:'(?P<sq>[^'\\]+)'|\"(?P<dq>[^\"\\]+)\")\s*\)\[\s*(?P<index>-?\d{1,6})\s*\])?"
    rf"(?P<filters>(?:\s*\|\s*(?:{'|'.join(_FILTERS)})\b)*))\s*"
)
_OR = re.compile(r"or\b")
# Jinja's words (constants and operators), and its globals: never a message variable here.
_WORDS = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None"}
    | {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}
)
# Keys a dict answers as attributes (``Message.items`` is the method for Jinja, not the key).
_DICT_ATTRS = frozenset(dir(dict))
# Values rendered as Jinja would (``str``); anything else (a function in the variables) goes to Jinja.
_PLAIN = (str, int, float, bool, type(None), list, dict)
_GIVE_UP: Any = object()
_UNDEFINED: Any = object()  # ChainableUndefined: false in ``or``, renders as ""


@functools.cache
def _jinja_filter(name: str) -> Any:
    """One of ``_FILTERS``: Jinja's own function, looked up on first use (no jinja2 import at load)."""
    from jinja2.filters import FILTERS

    return FILTERS[name]


def _term(match: re.Match[str]) -> tuple[Any, ...] | None:
    literal = match["sq_lit"] if match["sq_lit"] is not None else match["dq_lit"]
    if literal is not None:
        return (literal,)
    path = tuple(match["path"].split("."))
    if path[0] in _WORDS or any(k in _DICT_ATTRS or k.startswith("_") for k in path[1:]):
        return None
    index = None if match["index"] is None else int(match["index"])
    filters = tuple(f.strip() for f in match["filters"].split("|")[1:])
    return (path, match["sq"] or match["dq"], index, filters)


def _expression(inner: str) -> tuple[tuple[Any, ...], ...] | None:
    """The operands of ``a or b or 'c'`` (one for a single operand), or None."""
    terms = []
    at = 0
    while True:
        match = _TERM.match(inner, at)
        if match is None:
            return None
        term = _term(match)
        if term is None:
            return None
        terms.append(term)
        at = match.end()
        if at == len(inner):
            return tuple(terms)
        keyword = _OR.match(inner, at)
        if keyword is None:
            return None
        at = keyword.end()


def _parse(text: str) -> tuple[Any, ...] | None:
    """Literal strings and ``or`` chains of operands, or None when the text needs Jinja."""
    if "\r" in text or text.endswith("\n"):  # Jinja normalises newlines and drops a trailing one
        return None
    parts: list[Any] = []
    at = 0
    for match in _BLOCK.finditer(text):
        parts.append(text[at : match.start()])
        terms = _expression(match[1])
        if terms is None:
            return None
        parts.append(terms)
        at = match.end()
    parts.append(text[at:])
    literals = [p for p in parts if isinstance(p, str)]
    if any(m in p for p in literals for m in ("{{", "{%", "{#")):
        return None
    return tuple(p for p in parts if p != "")


def _value(variables: dict[str, Any], term: tuple[Any, ...]) -> Any:
    """An operand's value (not yet text), _UNDEFINED, or _GIVE_UP."""
    if len(term) == 1:
        return term[0]
    path, sep, index, filters = term
    plain = sep is None and not filters  # an undefined value is fine only without a split or filter
    if path[0] not in variables:
        return _UNDEFINED if plain else _GIVE_UP
    value = variables[path[0]]
    for key in path[1:]:
        if type(value) is not dict:
            return _GIVE_UP
        if key not in value:
            return _UNDEFINED if plain else _GIVE_UP
        value = value[key]
    if not isinstance(value, _PLAIN) or (isinstance(value, str | list | dict) and len(value) > MAX_VALUE_CHARS):
        return _GIVE_UP
    if sep is not None:
        if type(value) is not str:
            return _GIVE_UP
        pieces = value.split(sep)
        if not -len(pieces) <= index < len(pieces) or len(pieces) > MAX_VALUE_CHARS:
            return _GIVE_UP
        value = pieces[index]
    if filters and type(value) is not str:
        return _GIVE_UP
    for name in filters:
        value = _jinja_filter(name)(value)
    return value


def _lookup(variables: dict[str, Any], terms: tuple[tuple[Any, ...], ...]) -> Any:
    """The text of ``{{ a or b }}``: the first true operand, else the last (as Python's ``or``)."""
    value = _UNDEFINED
    for term in terms:
        value = _value(variables, term)
        if value is _GIVE_UP:
            return _GIVE_UP
        if value is not _UNDEFINED and value:
            break
    if value is _UNDEFINED:
        return ""
    return value if type(value) is str else str(value)


class RuleTemplate:
    """A compiled rule template: ``render(variables)`` as ``sandbox.render`` with the rule budgets."""

    __slots__ = ("jinja", "parts", "source")

    def __init__(self, source: str, jinja: Any) -> None:
        self.source = source
        # A jinja2 Template, or a LazyTemplate (alertd.lazy_template) compiled by the first render
        # that falls back to Jinja: the syntax was checked at load either way.
        self.jinja = jinja
        self.parts = _parse(source)

    @property
    def direct(self) -> bool:
        """True when rendered without Jinja (plain text and key lookups)."""
        return self.parts is not None

    def render(self, variables: dict[str, Any]) -> str:
        if self.parts is not None:
            out = []
            for part in self.parts:
                if type(part) is str:
                    out.append(part)
                    continue
                value = _lookup(variables, part)
                if value is _GIVE_UP:
                    break
                out.append(value)
            else:
                text = "".join(out)
                if len(text) <= RULE_MAX_CHARS:
                    return text
        # The sandbox raises what the budgets say (too long, too slow).
        from alertd import sandbox  # (jinja2: loaded by the first template that needs it)

        return sandbox.render(self.jinja, variables, seconds=RULE_SECONDS, max_chars=RULE_MAX_CHARS)
