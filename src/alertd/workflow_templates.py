"""The templates of workflow actions (a notice's ``message``, a webhook's ``body``, a field's
``value``): compiled once, rendered in alertd's bounded sandbox.

In a webhook body every ``{{ value }}`` is written as JSON (as the webhook channel does): a string as
JSON-escaped text, so ``"{{ alert.title }}"`` stays one string whatever the title holds; numbers,
lists and dicts as their JSON; ``| tojson`` output as it is. The result must parse as JSON.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from alertd import jsonlimits

if TYPE_CHECKING:
    import jinja2

# Rendered inside the writer's transaction: small budgets.
RENDER_SECONDS = 0.5
MAX_CHARS = 64 * 1024


def _json_value(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    if value is None or isinstance(value, bool | int | float | dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


@cache
def _environments() -> tuple[Any, Any]:
    """The text and JSON sandboxes, made by the first workflow template (jinja2's import was a tenth
    of the daemon's start-up, and a config without workflows renders none)."""
    import jinja2

    from alertd import sandbox

    text = sandbox.BoundedSandbox(autoescape=False, undefined=jinja2.ChainableUndefined)
    as_json = sandbox.BoundedSandbox(autoescape=False, undefined=jinja2.ChainableUndefined, finalize=_json_value)
    return text, as_json


@lru_cache(maxsize=256)
def compile_text(source: str) -> jinja2.Template:
    return _environments()[0].from_string(source)


@lru_cache(maxsize=256)
def compile_json(source: str) -> jinja2.Template:
    return _environments()[1].from_string(source)


def render_text(source: str, variables: dict[str, Any]) -> str:
    from alertd import sandbox

    return sandbox.render(compile_text(source), variables, seconds=RENDER_SECONDS, max_chars=MAX_CHARS).strip()


def render_json(source: str, variables: dict[str, Any]) -> str:
    """The body, checked to be JSON (ValueError with the reason when it is not)."""
    from alertd import sandbox

    text = sandbox.render(compile_json(source), variables, seconds=RENDER_SECONDS, max_chars=MAX_CHARS)
    jsonlimits.loads(text)
    return text
