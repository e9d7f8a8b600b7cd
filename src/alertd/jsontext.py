"""JSON text of the values the hot path stores (inbound-log headers and decision, alert tags and
fields, timeline details): orjson, several times faster than ``json`` for these small dicts,
once ``load()`` has run.

orjson's import costs some 30 ms of CPU (a sixth of a CLI command): it is imported by ``load()``,
which the paths that take inbound messages call (the daemon just after ready, an ingest worker
before its hello), never at import. Until then, and in the CLI, ``json`` does the work.

orjson writes compact text (``{"a":1}``) with non-ASCII characters as they are (UTF-8), where
``json.dumps`` wrote ``{"a": 1}`` with ``\\uXXXX`` escapes: the same value for every reader.
Whatever orjson would write differently or refuses (a datetime, a dataclass, a subclass of str
or int, a non-string key, an integer beyond 64 bits, a lone surrogate) goes to
``json.JSONEncoder(default=str)`` as before. Two values are written differently: a float NaN or
infinity as ``null`` (json wrote ``NaN``, which is not JSON), a plain Enum member as its value
(json wrote ``str()`` of it); rule-rendered values are strings and numbers.
"""

from __future__ import annotations

import json
from typing import Any

# The orjson module once load() ran (jsonlimits.loads reads it too), else None.
orjson: Any = None
_options = 0
_encode = json.JSONEncoder(default=str).encode


def load() -> None:
    """Use orjson from now on (in this process)."""
    global orjson, _options
    import orjson as module

    # Types orjson would write on its own differently from json(default=str) are handed to a
    # ``default`` that does not exist, so they raise and take the json road.
    _options = module.OPT_PASSTHROUGH_DATACLASS | module.OPT_PASSTHROUGH_DATETIME | module.OPT_PASSTHROUGH_SUBCLASS
    orjson = module


def dumps(value: Any) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(value, option=_options).decode()
        except TypeError:  # (orjson.JSONEncodeError is a TypeError)
            pass
    return _encode(value)
