"""The console's templates: Jinja2 with autoescape on, loaded from the package.

These templates are alertd's own (not rule templates from the config, which go through
``alertd.sandbox``); every value from a message is escaped by autoescape.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alertd.directory import level_words, mask
from alertd.textout import age, local_time, visible


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("alertd.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the package: no stat() per render
    )
    env.filters["visible"] = visible
    env.filters["mask"] = mask
    env.filters["age"] = lambda seconds: age(seconds)
    return env


def render(template: str, zone: tzinfo, **context: Any) -> str:
    def when(ts: float | None, seconds: bool = False) -> str:
        return local_time(ts, zone, seconds=seconds)

    return environment().get_template(template).render(when=when, level_words=level_words, **context)
