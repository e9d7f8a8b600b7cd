"""A rule's template (title, fields, tags, source_id ...), compiled once per ruleset.

Most rule templates are plain text (``"critical"``) or text around field lookups
(``"{{ Message.AlarmName }}: {{ Message.NewStateReason }}"``). Rendering those through Jinja
costs a generator, a sandbox check per attribute and a deadline per call, for every alert
opened; here they are rendered by walking the message's dicts directly, with the same result
as the sandbox (``str`` of the value, an unknown name or key renders as ``""``, as
ChainableUndefined does). Anything else, or data the walk does not handle exactly like
Jinja would (a non-dict on the way, a key that is a dict attribute), renders through the
sandbox (alertd.sandbox) with its time and size budgets.
"""

from __future__ import annotations

import re
from typing import Any

from alertd import sandbox

# A ``{{ name.key.key }}`` expression; anything else in ``{{ }}`` goes to Jinja.
_LOOKUP = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
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
    """Literal strings and key paths, or None when the text needs Jinja."""
    if "\r" in text or text.endswith("\n"):  # Jinja normalises newlines and drops a trailing one
        return None
    parts: list[Any] = []
    at = 0
    for match in _LOOKUP.finditer(text):
        parts.append(text[at : match.start()])
        path = tuple(match.group(1).split("."))
        if path[0] in _WORDS or any(k in _DICT_ATTRS or k.startswith("_") for k in path[1:]):
            return None
        parts.append(path)
        at = match.end()
    parts.append(text[at:])
    literals = [p for p in parts if isinstance(p, str)]
    if any(m in p for p in literals for m in ("{{", "{%", "{#")):
        return None
    return tuple(p for p in parts if p != "")


def _lookup(variables: dict[str, Any], path: tuple[str, ...]) -> Any:
    if path[0] not in variables:
        return ""
    value = variables[path[0]]
    for key in path[1:]:
        if type(value) is not dict:
            return _GIVE_UP
        if key not in value:
            return ""
        value = value[key]
    if not isinstance(value, _PLAIN) or (
        isinstance(value, str | list | dict) and len(value) > sandbox.MAX_VALUE_CHARS
    ):
        return _GIVE_UP
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
