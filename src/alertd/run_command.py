"""``alertd run``'s body, shared by alertd.launch (a plain command line, without click) and alertd.cli."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn


def run_daemon(config_path: Path) -> NoReturn:
    """``alertd run``: plugins (entry points, then the file's plugins_dir), checked, then the daemon."""
    import gc

    # Start-up allocates much and frees little: the collector stays off until ready (daemon.run).
    gc.disable()
    from alertd import code_cache
    from alertd.config.validated_cache import cache_dir

    # Before the imports that build classes: their generated code comes from the last start's.
    code_cache.install(cache_dir(config_path.absolute()))
    from alertd import daemon
    from alertd.config import ConfigError
    from alertd.plugins import PluginError, check_plugins, load_config_plugins_dir, make_manager

    pm = make_manager(entry_point_cache=cache_dir(config_path.absolute()) / "entry-points.json")
    try:
        # The validated config may come from the cache (config.validated_cache).
        load_config_plugins_dir(pm, config_path, cached=True)
        # Entry-point plugins and plugins_dir ones together: a misspelt hook or a name claimed twice.
        check_plugins(pm)
    except (ConfigError, PluginError) as exc:  # one line, exit 2 (as alertd.cli's fail)
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None
    raise SystemExit(daemon.run(config_path, pm))
