"""hypercorn's HTTP/2 and WebSocket protocols, loaded on first use instead of at start-up.

hypercorn imports ``hypercorn.protocol.h2`` (h2, hpack, hyperframe, priority) and
``hypercorn.protocol.ws_stream`` (wsproto) when it is imported: some 30 modules and a tenth of
the daemon's start-up, for protocols alertd's senders (SNS, webhooks, the CLI, browsers over a
proxy) rarely or never speak to it. ``install()``, called before hypercorn is imported, puts a
stand-in for each of the two modules in ``sys.modules``; its one class (``H2Protocol``,
``WSStream``), when hypercorn first makes an instance (an HTTP/2 connection, an h2c upgrade, a
WebSocket), imports the real module and returns the real class's instance. hypercorn uses the
two names only to make instances (checked for hypercorn 0.18; ``tests/test_daemon_startup.py``
speaks HTTP/2 to a running daemon). ``h2.events``, which ``hypercorn.typing`` imports for type
hints only, gets a module stand-in that imports it at the first name used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED = {"hypercorn.protocol.h2": "H2Protocol", "hypercorn.protocol.ws_stream": "WSStream"}


def _real_module(module: str) -> types.ModuleType:
    loaded = sys.modules.get(module)
    if loaded is None or getattr(loaded, "__alertd_stand_in__", False):
        sys.modules.pop(module, None)
        parent, _, child = module.rpartition(".")
        loaded = importlib.import_module(module)
        setattr(sys.modules[parent], child, loaded)
    return loaded


def _real_class(module: str, name: str) -> type:
    return getattr(_real_module(module), name)  # type: ignore[no-any-return]


class _LazyModule(types.ModuleType):
    """A stand-in that imports the real module at the first use of any of its names."""

    def __getattr__(self, name: str) -> Any:  # only for names the stand-in itself lacks
        return getattr(_real_module(self.__name__), name)


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
    _defer_h2_events()


def _defer_h2_events() -> None:
    """``hypercorn.typing`` imports ``h2.events`` (with h2's settings and hyperframe) for type hints
    only, never evaluated: 1.5% of the start. A module stand-in loads it at the first name used
    (hypercorn's HTTP/2 protocol, httpx's HTTP/2 client: both import from it)."""
    if "h2.events" in sys.modules:
        return
    try:
        import h2  # the package itself is one line (its version)
    except ImportError:
        return
    stand_in = _LazyModule("h2.events", "stand-in for h2.events (alertd.http.lazy_protocols)")
    stand_in.__alertd_stand_in__ = True  # type: ignore[attr-defined]
    sys.modules["h2.events"] = stand_in
    h2.events = stand_in  # type: ignore[attr-defined]
