"""A rule's template (title, fields, tags, source_id ...), compiled once per ruleset.

Most rule templates are plain text (``"critical"``) or text around field lookups
(``"{{ Message.AlarmName }}: {{ Message.NewStateReason }}"``, at most with a
``.split(':')[3]`` and filters such as ``| urlencode``). Rendering those through Jinja costs
a context, a generator and a sandbox check per attribute, for every alert opened (the default
CloudWatch ruleset's 14 renders were half of a new alarm's CPU); here they are rendered by
walking the message's dicts directly, with the same result as the sandbox (``str`` of the
value, an unknown name or key renders as ``""``, as ChainableUndefined does). Anything else,
or data the walk does not handle exactly like Jinja would (a non-dict on the way, a key that
is a dict attribute, a split index out of range), renders through the sandbox
(alertd.sandbox) with its time and size budgets. Each direct step is linear in the value's
size, with no loop: cheap and bounded whatever the message.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2.filters import FILTERS

from alertd import sandbox

# Filters taken directly: one argument, output linear in the input (Jinja's own functions).
_FILTERS = ("urlencode", "lower", "upper", "trim")
# ``{{ name.key.key }}``, optionally ``.split('sep')[index]``, then ``| filter``s; anything else
# in ``{{ }}`` goes to Jinja.
_LOOKUP = re.compile(
    r"\{\{\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"(?:\.split\(\s*(?:'(?P<sq>[^'\\]+)'|\"(?P<dq>[^\"\\]+)\")\s*\)\[\s*(?P<index>-?\d{1,6})\s*\])?"
    rf"(?P<filters>(?:\s*\|\s*(?:{'|'.join(_FILTERS)})\b)*)\s*\}}\}}"
)
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


def _parse(text: str) -> tuple[Any, ...] | None:
    """Literal strings and (path, split separator, split index, filters), or None when the text
    needs Jinja."""
    if "\r" in text or text.endswith("\n"):  # Jinja normalises newlines and drops a trailing one
        return None
    parts: list[Any] = []
    at = 0
    for match in _LOOKUP.finditer(text):
        parts.append(text[at : match.start()])
        path = tuple(match["path"].split("."))
        if path[0] in _WORDS or any(k in _DICT_ATTRS or k.startswith("_") for k in path[1:]):
            return None
        sep = match["sq"] or match["dq"]
        index = None if match["index"] is None else int(match["index"])
        filters = tuple(FILTERS[f.strip()] for f in match["filters"].split("|")[1:])
        parts.append((path, sep, index, filters))
        at = match.end()
    parts.append(text[at:])
    literals = [p for p in parts if isinstance(p, str)]
    if any(m in p for p in literals for m in ("{{", "{%", "{#")):
        return None
    return tuple(p for p in parts if p != "")


def _lookup(variables: dict[str, Any], expression: tuple[Any, ...]) -> Any:
    path, sep, index, filters = expression
    plain = sep is None and not filters  # an undefined value renders as "" only without a split or filter
    if path[0] not in variables:
        return "" if plain else _GIVE_UP
    value = variables[path[0]]
    for key in path[1:]:
        if type(value) is not dict:
            return _GIVE_UP
        if key not in value:
            return "" if plain else _GIVE_UP
        value = value[key]
    if not isinstance(value, _PLAIN) or (isinstance(value, str | list | dict) and len(value) > sandbox.MAX_VALUE_CHARS):
        return _GIVE_UP
    if sep is not None:
        if type(value) is not str:
            return _GIVE_UP
        pieces = value.split(sep)
        if not -len(pieces) <= index < len(pieces) or len(pieces) > sandbox.MAX_VALUE_CHARS:
            return _GIVE_UP
        value = pieces[index]
    if filters and type(value) is not str:
        return _GIVE_UP
    for apply in filters:
        value = apply(value)
    return value if type(value) is str else str(value)


class RuleTemplate:
    """A compiled rule template: ``render(variables)`` as ``sandbox.render`` with the rule budgets."""

    __slots__ = ("jinja", "parts", "source")

    def __init__(self, source: str, jinja: Any) -> None:
        self.source = source
        self.jinja = jinja  # compiled even when not used: its syntax check is the ruleset's
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
                if len(text) <= sandbox.RULE_MAX_CHARS:
                    return text
        # The sandbox raises what the budgets say (too long, too slow).
        return sandbox.render(self.jinja, variables, seconds=sandbox.RULE_SECONDS, max_chars=sandbox.RULE_MAX_CHARS)
