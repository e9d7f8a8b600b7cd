"""What a layer's shift length looks like: ``<n>h``, ``<n>d`` or ``<n>w`` (a leaf: the config
models, their pydantic-free twin config.quick_tables and the pure on-call calculation share it,
so ``alertd oncall`` answers without importing pydantic)."""

from __future__ import annotations

import re

SHIFT_RE = re.compile(r"^(\d+)\s*([hdw])$")


def valid_shift(value: str) -> bool:
    """Whether ``value`` is a shift length of at least one unit."""
    match = SHIFT_RE.match(value)
    return match is not None and int(match.group(1)) != 0
