"""The plugin host: a pluggy PluginManager for project ``alertd``.

Plugins come from the ``alertd`` entry-point group (built-ins under plugins/ are
installed this way too) and, optionally, from ``.py`` files in ``plugins_dir``.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from alertd import hookspecs

hookimpl = pluggy.HookimplMarker("alertd")

ENTRY_POINT_GROUP = "alertd"


class PluginError(Exception):
    pass


@dataclass
class PluginInfo:
    name: str
    version: str | None
    source: str
    hooks: list[str]


def make_manager(plugins_dir: Path | None = None, *, entry_points: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("alertd")
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if plugins_dir is not None:
        load_plugins_dir(pm, plugins_dir)
    return pm


def load_plugins_dir(pm: pluggy.PluginManager, plugins_dir: Path) -> None:
    if not plugins_dir.is_dir():
        raise PluginError(f"plugins_dir {plugins_dir} is not a directory")
    for path in sorted(plugins_dir.glob("*.py")):
        name = f"alertd_local_plugins.{path.stem}"
        if pm.has_plugin(name):
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot load plugin file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PluginError(f"plugin file {path} failed to import: {exc!r}") from exc
        pm.register(module, name=name)
        module.__alertd_source__ = str(path)


def load_config_plugins_dir(pm: pluggy.PluginManager, config_path: Path) -> None:
    """Load the ``plugins_dir`` a config file names, before the config is validated
    (its plugins may provide the inbound types and channels the file uses)."""
    from alertd.config import read_toml

    config_path = config_path.absolute()
    value = read_toml(config_path).get("plugins_dir")
    if isinstance(value, str):
        directory = Path(value)
        load_plugins_dir(pm, directory if directory.is_absolute() else config_path.parent / directory)


def describe(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every loaded plugin with its version and the hooks it implements."""
    dists: dict[int, Any] = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        dist = dists.get(id(plugin))
        if dist is not None:
            version = dist.version
            source = f"entry point ({dist.project_name})"
        else:
            version = getattr(plugin, "__version__", None)
            source = getattr(plugin, "__alertd_source__", "registered")
        infos.append(PluginInfo(name=name, version=version, source=source, hooks=hooks))
    return sorted(infos, key=lambda info: info.name)
