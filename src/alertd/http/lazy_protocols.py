"""hypercorn's HTTP/2 and WebSocket protocols, loaded on first use instead of at start-up.

hypercorn imports ``hypercorn.protocol.h2`` (h2, hpack, hyperframe, priority) and
``hypercorn.protocol.ws_stream`` (wsproto) when it is imported: some 30 modules and a tenth of
the daemon's start-up, for protocols alertd's senders (SNS, webhooks, the CLI, browsers over a
proxy) rarely or never speak to it. ``install()``, called before hypercorn is imported, puts a
stand-in for each of the two modules in ``sys.modules``; its one class (``H2Protocol``,
``WSStream``), when hypercorn first makes an instance (an HTTP/2 connection, an h2c upgrade, a
WebSocket), imports the real module and returns the real class's instance. hypercorn uses the
two names only to make instances (checked for hypercorn 0.18; ``tests/test_daemon_startup.py``
speaks HTTP/2 to a running daemon).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED = {"hypercorn.protocol.h2": "H2Protocol", "hypercorn.protocol.ws_stream": "WSStream"}


def _real_class(module: str, name: str) -> type:
    loaded = sys.modules.get(module)
    if getattr(loaded, "__alertd_stand_in__", False):
        del sys.modules[module]
        parent, _, child = module.rpartition(".")
        loaded = importlib.import_module(module)
        setattr(sys.modules[parent], child, loaded)
    return getattr(loaded, name)


def _stand_in_class(module: str, name: str) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return _real_class(module, name)(*args, **kwargs)

    return type(name, (), {"__new__": __new__, "__module__": module, "__doc__": f"{module}.{name}, loaded on use"})


def install() -> None:
    """Put the stand-ins in place, unless hypercorn's protocols are imported already."""
    if "hypercorn.protocol" in sys.modules:
        return
    for module, name in _DEFERRED.items():
        stand_in = types.ModuleType(module, f"stand-in for {module} (alertd.http.lazy_protocols)")
        stand_in.__alertd_stand_in__ = True  # type: ignore[attr-defined]
        setattr(stand_in, name, _stand_in_class(module, name))
        sys.modules[module] = stand_in
