"""SIGHUP: validate the whole config file again and swap it in only if it has no problem.

The daemon only calls :func:`reload_config`; what a reload may change at once and what
needs a restart is decided here (``restart_needed`` is pure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from alertd.config import Config, ConfigError, load_config
from alertd.log import get_logger, set_level
from alertd.store.pgurl import redacted

if TYPE_CHECKING:
    from alertd.runtime import Runtime
    from alertd.sdnotify import Notifier

log = get_logger("alertd.daemon")

# Settings read once at start; a reload that changes them asks for a restart.
RESTART_ONLY = (
    "server.listen",
    "server.ingest_processes",
    "store.path",
    "store.url",
    "store.pool_size",
    "store.synchronous",
    "store.max_size_mb",
    "plugins_dir",
)


def restart_only_values(config: Config) -> dict[str, Any]:
    raw = config.raw
    return {
        "server.listen": raw.server.listen,
        "server.ingest_processes": raw.server.ingest_processes,
        "store.path": str(config.db_path),
        # Shown without its password (a change of the password alone is not noticed).
        "store.url": None if raw.store.url is None else redacted(raw.store.url.get_secret_value()),
        "store.pool_size": raw.store.pool_size,
        "store.synchronous": raw.store.synchronous,
        "store.max_size_mb": raw.store.max_size_mb,
        "plugins_dir": str(raw.plugins_dir),
    }


def restart_needed(running: Config, new: Config) -> list[tuple[str, Any, Any]]:
    """(key, running value, value in the file) of every restart-only setting the new config changes."""
    before, after = restart_only_values(running), restart_only_values(new)
    return [(key, before[key], after[key]) for key in RESTART_ONLY if before[key] != after[key]]


def log_warnings(config: Config) -> None:
    """What check-config warns about (valid settings that page nobody), once per start or reload."""
    if config.warnings_later is not None:
        config.warnings, config.warnings_later = config.warnings_later(), None
    for warning in config.warnings:
        log.warning("config.warning", key=warning.key, problem=warning.message)


def _load_compiled(config_path: Path, pm: Any) -> Config:
    """The new config, its rule templates compiled before it serves (as at start, just after ready).
    Its rule regexes are compiled by load_config itself (a pattern `regex` refuses is a problem with
    its key path); every pattern in memory is not: the running config's may fail (logged at start)."""
    from alertd.lazy_template import compile_waiting

    new = load_config(config_path, pm)
    compile_waiting()
    return new


async def reload_config(
    config_path: Path, runtime: Runtime, notifier: Notifier, refresh: Callable[[], Awaitable[None]]
) -> bool:
    """Validate ``config_path`` whole; swap it into ``runtime`` only if it is valid, then ``refresh``."""
    notifier.notify("RELOADING=1")
    try:
        new = await trio.to_thread.run_sync(_load_compiled, config_path, runtime.pm)
    except ConfigError as exc:
        log.error("config.reload_rejected", problems=len(exc.problems), errors=str(exc))
        notifier.notify("READY=1", "STATUS=reload rejected; running on the previous config")
        return False
    for key, running, file in restart_needed(runtime.config, new):
        log.warning("config.restart_needed", key=key, running=running, file=file)
    runtime.config = new
    set_level(new.raw.log.level)
    log_warnings(new)
    await refresh()
    # Each loop brings its rows in line with the new config on its next pass: that pass is now
    # (a loop asleep towards its next due time would move a handoff falling within the nap).
    for loop in list(runtime.wakeups):
        runtime.wake(loop)
    log.info("config.reloaded", path=str(config_path), integrations=len(new.integrations))
    notifier.notify("READY=1", "STATUS=serving (config reloaded)")
    return True
