"""The Jinja2 sandbox that every operator-written template runs in (rules, webhook bodies).

jinja2's ImmutableSandboxedEnvironment keeps templates away from Python internals, but not
from asking for a gigabyte (``{{ "x" * 10**9 }}``, ``"%999999999d" % 1``) or looping for
minutes over message data. Here every operation that can blow a value up is checked against
``MAX_VALUE_CHARS`` before it runs, and ``render`` stops at a deadline and at an output size.
An overrun raises ``BudgetExceeded`` (a jinja2 SecurityError), which callers report like any
other template failure.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from functools import update_wrapper
from string import Formatter
from typing import Any

from jinja2 import Environment
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

# The budgets live apart (read without jinja2); callers read them here too.
from alertd.template_budgets import MAX_VALUE_CHARS as MAX_VALUE_CHARS
from alertd.template_budgets import RULE_MAX_CHARS as RULE_MAX_CHARS
from alertd.template_budgets import RULE_SECONDS as RULE_SECONDS

_budget = threading.local()
# printf conversions: width and precision are the parts that allocate.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class BudgetExceeded(SecurityError):
    """A template asked for more time or memory than a render may use."""


def _check_deadline() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise BudgetExceeded(f"took longer than {_budget.seconds:g} s")


def _too_big(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"{what} would exceed {MAX_VALUE_CHARS} characters")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _check_size(value: Any, what: str) -> Any:
    if _size(value) > MAX_VALUE_CHARS:
        raise _too_big(what)
    return value


def _check_printf(fmt: str) -> None:
    for width, precision in _PRINTF.findall(fmt):
        for part in (width, precision):
            if part == "*":
                raise BudgetExceeded("% formatting with a * width or precision")
            if part and int(part) > MAX_VALUE_CHARS:
                raise _too_big("% formatting")


def _check_format_spec(fmt: str) -> None:
    for _text, _name, spec, _conv in Formatter().parse(fmt):
        if spec and ("{" in spec or any(int(n) > MAX_VALUE_CHARS for n in re.findall(r"\d+", spec))):
            raise _too_big("str.format")


# str methods whose int arguments are widths or counts (the filters' are their extra arguments).
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    # A width, count or indent far beyond any real need (center(10**9), ljust, indent ...). Only
    # parameters are checked, never the value worked on: a large number is ordinary data.
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE_CHARS:
            raise _too_big(what)


def _estimate_join(sep: Any, items: Any) -> None:
    sized = isinstance(items, list | tuple | range | _BudgetedRange) and isinstance(sep, str)
    if sized and len(sep) * max(len(items) - 1, 0) > MAX_VALUE_CHARS:
        raise _too_big("join")


def _estimate_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        worst = len(text) + (len(text) + 1) * len(new) if old == "" else len(text) // max(len(old), 1) * len(new)
        if len(text) + worst > MAX_VALUE_CHARS:
            raise _too_big("replace")


def _huge_power(base: Any, exponent: Any) -> bool:
    # The result has about exponent * bits(base) bits: refuse numbers no template needs.
    ints = isinstance(base, int) and isinstance(exponent, int)
    return ints and abs(base) > 1 and exponent * abs(base).bit_length() > 4096


class _BudgetedRange:
    """range() is the one loop source that is not message data: it checks the clock as it runs."""

    def __init__(self, rng: range) -> None:
        self._range = rng

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __iter__(self) -> Iterator[int]:
        for i, value in enumerate(self._range):
            if i % 256 == 0:
                _check_deadline()
                time.sleep(0)  # let the event loop and the writer have the GIL: a long loop only costs itself
            yield value

    def __repr__(self) -> str:
        return repr(self._range)


def budgeted_range(*args: int) -> _BudgetedRange:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise BudgetExceeded(f"range of more than {MAX_RANGE} items")
    return _BudgetedRange(rng)


def _bounded_filter(name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        # The value is the first argument after any context/environment jinja passes.
        values = [a for a in args if not isinstance(a, Context | EvalContext | Environment)]
        _check_args(tuple(values[1:]), kwargs, f"filter {name}")
        if name == "format" and values and isinstance(values[0], str):
            _check_printf(values[0])
        elif name == "join" and values:
            _estimate_join(values[1] if len(values) > 1 else kwargs.get("d", ""), values[0])
        elif name == "replace" and len(values) >= 3:
            _estimate_replace(values[0], values[1], values[2])
        return _check_size(fn(*args, **kwargs), f"filter {name}")

    return update_wrapper(wrapper, fn)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with size checks on everything that can amplify a value."""

    intercepted_binops = frozenset({"*", "%", "**", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = budgeted_range
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if op == "*":
            for seq, count in ((left, right), (right, left)):
                if _size(seq) and isinstance(count, int) and _size(seq) * count > MAX_VALUE_CHARS:
                    raise _too_big("* repetition")
        elif op == "%" and isinstance(left, str):
            _check_printf(left)
        elif op == "**" and _huge_power(left, right):
            raise BudgetExceeded("** result too large")
        return _check_size(self.binop_table[op](left, right), f"{op} result")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _WIDTH_METHODS:
                _check_args(args, kwargs, name)
            elif name == "join" and args:
                _estimate_join(owner, args[0])
            elif name == "replace" and len(args) >= 2:
                _estimate_replace(owner, args[0], args[1])
        return _check_size(super().call(__context, __obj, *args, **kwargs), f"{name or 'call'} result")

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format_spec(value.__self__)
        return wrapped

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_deadline()
        return _check_size(super().getattr(obj, attribute), f"attribute {attribute}")

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_deadline()
        return _check_size(super().getitem(obj, argument), "item")


def render(template: Any, variables: dict[str, Any], *, seconds: float, max_chars: int) -> str:
    """Render with a deadline and an output cap; raises BudgetExceeded past either."""
    previous = getattr(_budget, "deadline", None), getattr(_budget, "seconds", None)
    _budget.deadline, _budget.seconds = time.monotonic() + seconds, seconds
    try:
        out: list[str] = []
        total = 0
        for chunk in template.generate(variables):
            total += len(chunk)
            if total > max_chars:
                raise BudgetExceeded(f"output longer than {max_chars} characters")
            _check_deadline()
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.deadline, _budget.seconds = previous
