"""The plugin host: a pluggy PluginManager for project ``alertd``.

Plugins come from the ``alertd`` entry-point group (built-ins under plugins/ are
installed this way too) and, optionally, from ``.py`` files in ``plugins_dir``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from alertd import hookspecs
from alertd.kinds import kind_problem

ENTRY_POINT_GROUP = "alertd"


class PluginError(Exception):
    pass


class PluginSetError(PluginError):
    """The plugins load but do not fit together: an unknown hook, a name two plugins claim."""


@dataclass
class PluginInfo:
    name: str
    version: str | None
    source: str
    hooks: list[str]


def make_manager(
    plugins_dir: Path | None = None, *, entry_points: bool = True, entry_point_cache: Path | None = None
) -> pluggy.PluginManager:
    """``entry_point_cache`` (``alertd run``): the entry-point scan kept there (alertd.entry_point_cache)."""
    pm = pluggy.PluginManager("alertd")
    pm.add_hookspecs(hookspecs)
    if entry_points and entry_point_cache is not None:
        from alertd.entry_point_cache import load_entry_points

        load_entry_points(pm, ENTRY_POINT_GROUP, entry_point_cache)
    elif entry_points:
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
        module.__alertd_source__ = str(path)
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:  # e.g. a hook implementation with unknown arguments
            raise PluginError(f"plugin file {path}: {exc}") from None


def load_config_plugins_dir(pm: pluggy.PluginManager, config_path: Path, *, cached: bool = False) -> None:
    """Load the ``plugins_dir`` a config file names, before the config is validated
    (its plugins may provide the inbound types and channels the file uses). ``cached``
    (``alertd run``): from the file's validated tree in the cache, when it is there."""
    from alertd.config import read_toml

    config_path = config_path.absolute()
    value: object = None
    raw = None
    if cached:
        from alertd.config.reading import read_source
        from alertd.config.validated_cache import digest_of, lookup

        raw = lookup(config_path, digest_of(read_source(config_path)))
    if raw is not None:
        value = None if raw.plugins_dir is None else str(raw.plugins_dir)
    else:
        value = read_toml(config_path, keep=True).get("plugins_dir")  # read-only: validation reuses it
    if isinstance(value, str):
        directory = Path(value)
        load_plugins_dir(pm, directory if directory.is_absolute() else config_path.parent / directory)


# --- checks at start (pure over the loaded plugins) --------------------------------


def plugin_label(pm: pluggy.PluginManager, name: str) -> str:
    """How a person finds a plugin: its file for plugins_dir ones, else its registered name."""
    return getattr(pm.get_plugin(name), "__alertd_source__", None) or name


def unknown_hooks(pm: pluggy.PluginManager) -> list[str]:
    """Hook implementations with no hook spec (a misspelt name would otherwise be silently never called)."""
    known = sorted(name for name in dir(hookspecs) if name.startswith("alertd_"))
    out = []
    for name in sorted(vars(pm.hook)):
        caller = getattr(pm.hook, name)
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            import difflib  # only for a misspelt hook: not an import of every start

            guess = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else f"known hooks: {', '.join(known)}"
            out.append(f"plugin {plugin_label(pm, impl.plugin_name)}: unknown hook {name!r} ({hint})")
    return out


def _provided(pm: pluggy.PluginManager, hook: str) -> list[tuple[str, str]]:
    """(plugin name, item name) of everything each plugin returns from a list hook."""
    out = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        for item in impl.function() or []:
            out.append((impl.plugin_name, str(getattr(item, "name", ""))))
    return out


def duplicate_names(provided: list[tuple[str, str]], what: str, label: Callable[[str], str] = str) -> list[str]:
    """One problem per name that two plugins (or one plugin twice) provide; the first one found is named first."""
    owners: dict[str, list[str]] = {}
    for plugin, name in provided:
        owners.setdefault(name, []).append(plugin)
    return [
        f"{what} {name!r} is provided by more than one plugin: {' and '.join(label(p) for p in plugins)}"
        for name, plugins in owners.items()
        if len(plugins) > 1
    ]


def bad_kinds(pm: pluggy.PluginManager, label: Callable[[str], str] = str) -> list[str]:
    """Channels declaring a contact kind no user could name (users' contact keys have this shape)."""
    out = []
    for impl in pm.hook.alertd_channels.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        for channel in impl.function() or []:
            kinds = getattr(channel, "kinds", None)
            if not isinstance(kinds, tuple | list) or not kinds:
                problems = ["kinds must be a non-empty tuple of contact kinds"]
            else:
                problems = [p for p in map(kind_problem, kinds) if p]
            if not isinstance(getattr(channel, "closure_notices", True), bool):
                problems.append("closure_notices must be True or False")
            name = getattr(channel, "name", "?")
            out += [f"plugin {label(impl.plugin_name)}: channel {name!r}: {p}" for p in problems]
    return out


# A prefix of header names whose values an inbound type keeps: at least "x-" and a word, so that
# no type keeps every header (credentials ride in some).
HEADER_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{3,63}$")


def bad_inbound_types(pm: pluggy.PluginManager, label: Callable[[str], str] = str) -> list[str]:
    """Inbound types declaring header prefixes that are no lower-case header-name prefix."""
    out = []
    for impl in pm.hook.alertd_inbound_types.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        for inbound_type in impl.function() or []:
            prefixes = getattr(inbound_type, "stored_header_prefixes", ())
            ok = isinstance(prefixes, tuple) and all(isinstance(p, str) and HEADER_PREFIX_RE.match(p) for p in prefixes)
            if not ok:
                name = getattr(inbound_type, "name", "?")
                out.append(
                    f"plugin {label(impl.plugin_name)}: inbound type {name!r}: stored_header_prefixes must be "
                    f"a tuple of lower-case header-name prefixes of 4 to 64 characters (found {prefixes!r:.80})"
                )
    return out


def check_plugins(pm: pluggy.PluginManager) -> None:
    """Raise PluginSetError (one line, every problem) unless the loaded plugins fit together."""
    problems = unknown_hooks(pm)

    def label(name: str) -> str:
        return plugin_label(pm, name)

    problems += duplicate_names(_provided(pm, "alertd_channels"), "channel", label)
    problems += duplicate_names(_provided(pm, "alertd_inbound_types"), "inbound type", label)
    problems += bad_kinds(pm, label)
    problems += bad_inbound_types(pm, label)
    if problems:
        raise PluginSetError("; ".join(problems))
    pm.check_pending()  # the same rule as unknown_hooks, kept as pluggy's own backstop


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
