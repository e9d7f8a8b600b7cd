"""Start-up checks: each failure becomes one line naming the address or path and the cause.

``alertd run`` checks these before it starts serving, so that a port in use, an
unusable ``store.path`` or a database written by a newer alertd ends with one
clear line and exit code 2 rather than a traceback or a nest of exception groups.
"""

from __future__ import annotations

import sqlite3

from hypercorn.config import Config as HyperConfig

from alertd.errors import reason
from alertd.store import Store, StoreUnavailable
from alertd.store.schema import SchemaTooNew


class StartupError(Exception):
    """A reason the daemon cannot start; ``str()`` is the one line shown to the operator."""


def first_os_error(exc: BaseException) -> OSError | None:
    """The first OSError inside ``exc`` and its exception groups, or None."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_os_error(inner)
            if found is not None:
                return found
    return None


def check_listen(listen: str) -> None:
    """Bind (and release) the server's address the way hypercorn will, to fail before serving."""
    hc = HyperConfig()
    hc.bind = [listen]
    try:
        sockets = hc.create_sockets()
    except OSError as exc:
        raise StartupError(f"cannot listen on {listen}: {reason(exc)}") from None
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets):
        sock.close()


def open_store(store: Store) -> int:
    """Create or migrate the database; StartupError naming the path if that fails."""
    try:
        return store.open()
    except SchemaTooNew as exc:
        raise StartupError(f"cannot use the database {store.where}: {exc}") from None
    except StoreUnavailable as exc:  # PostgreSQL unreachable: the message names the URL (no password)
        raise StartupError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(f"cannot open the database {store.where}: {reason(exc)}") from None
