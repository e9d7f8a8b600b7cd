"""A Jinja template checked when the config is loaded and compiled to Python on its first render.

Compiling a template (parse, generate Python source, ``compile()`` it) took four fifths of the
rules' share of start-up; the parse alone finds syntax errors. The few errors only jinja2's code
generator raises (an unknown filter or test name, a block defined twice, ``extends`` out of place,
a macro's ``caller`` argument, assigning to ``loop``) are not reimplemented: a template whose
parse tree holds what could raise one (``needs_compiler_check``) is compiled at load as before,
so a config is refused for exactly what it was refused for before.

A template a plugin ships in its rulesets is not even parsed at load (the plugin's own tests
compile them: tests/test_lazy_template.py for the plugins here): with only those in a config,
jinja2 (a tenth of the time to ready) is imported by the first message's render, after ready.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment, Template, nodes


def needs_compiler_check(env: Environment, tree: nodes.Template) -> bool:
    """Whether compiling ``tree`` could fail where parsing it did not."""
    from jinja2 import nodes

    # Nodes whose code generation can raise TemplateAssertionError (jinja2.compiler's self.fail).
    if any(True for _ in tree.find_all((nodes.Block, nodes.Extends, nodes.Macro, nodes.CallBlock))):
        return True
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            return True
    for loop in tree.find_all(nodes.For):
        targets = [loop.target, *loop.target.find_all(nodes.Name)]  # find_all leaves out the node itself
        if any(isinstance(n, nodes.Name) and n.name == "loop" and n.ctx == "store" for n in targets):
            return True
    return False


# Every LazyTemplate alive (the running config's and, until collected, a replaced one's), for
# ``compile_waiting``.
_made: weakref.WeakSet[LazyTemplate] = weakref.WeakSet()
_made_lock = threading.RLock()  # (as lazy_regex's: listed on a worker thread while others add)


class LazyTemplate:
    """Stands for ``environment().from_string(source)``; the template is built on first use (once:
    rules render on worker threads), or by ``compile_waiting`` just after ready."""

    __slots__ = ("__weakref__", "_environment", "_lock", "_template", "source")

    def __init__(self, environment: Callable[[], Environment], source: str) -> None:
        self._environment = environment
        self.source = source
        self._template: Template | None = None
        self._lock = threading.Lock()
        with _made_lock:
            _made.add(self)

    @property
    def compiled(self) -> bool:
        return self._template is not None

    @property
    def template(self) -> Template:
        if self._template is None:
            with self._lock:
                if self._template is None:
                    self._template = self._environment().from_string(self.source)
        return self._template

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        return self.template.generate(*args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.template.render(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # anything else a Template has
        return getattr(self.template, name)


def compile_waiting() -> int:
    """Compile every template not compiled yet that only Jinja renders (those alertd.rule_templates
    renders itself need Jinja only for an oversized value); returns how many. The daemon calls it
    just after ready, on a worker thread: otherwise the first message after a restart would compile
    its ruleset's templates (and import jinja2), on the way of its answer."""
    from alertd.rule_templates import RuleTemplate

    done = 0
    with _made_lock:
        waiting = list(_made)
    for lazy in waiting:
        if not lazy.compiled and not RuleTemplate(lazy.source, None).direct:
            lazy.template  # noqa: B018 (compiles it)
            done += 1
    return done
