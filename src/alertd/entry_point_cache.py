"""The ``alertd`` entry points found by the last scan, kept for the next ``alertd run``.

pluggy's ``load_setuptools_entrypoints`` imports ``importlib.metadata`` (with ``email``,
``zipfile`` and ``csv``) and reads the metadata of every installed distribution: a tenth of the
time to ready. Which entry points exist changes only when a distribution is installed, removed or
upgraded, and each of those writes or removes a ``*.dist-info`` folder in a ``sys.path`` folder.
So the scan's result is kept with the names and modification times of those folders; the next
start that finds the same ones imports the plugins
straight from the kept ``module:attribute`` values. A kept file that cannot be read or does not
match is a full scan, silently, and is rewritten (atomically: a temporary file renamed over it).
It names modules to import: a file another user could have written (alertd.private_files) is not read.
"""

from __future__ import annotations

import json
import os
import re
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pluggy

from alertd.private_files import read_private, write_private

_FORMAT = "alertd-entry-points/4"
_METADATA = (".dist-info", ".egg-info")
MAX_FILE_BYTES = 1024 * 1024
# An entry point's value: "module.path:attr.path [extras]" (importlib.metadata's own pattern).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def path_key() -> list[list[Any]]:
    """Each ``sys.path`` entry holding distributions, with their metadata folders (``*.dist-info``,
    ``*.egg-info``) and those folders' modification times: an install, removal, upgrade or
    reinstall (pip writes the folder anew) changes it; a database's files in the working folder
    do not, nor does a folder without distributions (``python -m``'s working folder)."""
    key: list[list[Any]] = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as found:
                dists = sorted([item.name, item.stat().st_mtime_ns] for item in found if item.name.endswith(_METADATA))
            if dists:
                key.append([entry, dists])
        except NotADirectoryError:  # a zip file on sys.path
            key.append([entry, _mtime(entry)])
        except OSError:
            pass  # no such folder: nothing to find there
    return key


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def scan(group: str) -> list[list[str]]:
    """[name, value, distribution, version] of every entry point in ``group``, in pluggy's order."""
    import importlib.metadata

    return [
        [ep.name, ep.value, dist.metadata["name"], dist.version]
        for dist in list(importlib.metadata.distributions())
        for ep in dist.entry_points
        if ep.group == group
    ]


def _read(cache_file: Path, key: list[list[Any]]) -> list[list[str]] | None:
    try:
        data = read_private(cache_file, MAX_FILE_BYTES)
        if data is None:  # another user could choose what is imported, or too large
            return None
        kept = json.loads(data)
        if kept["format"] != _FORMAT or kept["key"] != key:
            return None
        found = kept["entry_points"]
        if not all(isinstance(row, list) and len(row) == 4 and all(isinstance(v, str) for v in row) for row in found):
            return None
        return found
    except Exception:  # missing, corrupt, another format: scan again
        return None


def _write(cache_file: Path, key: list[list[Any]], found: list[list[str]]) -> None:
    data = json.dumps({"format": _FORMAT, "key": key, "entry_points": found}).encode()
    try:
        write_private(cache_file, data, ".entry-points-")
    except OSError:
        pass  # a folder that cannot be written: scan at every start, as without the cache


def load_value(value: str) -> Any:
    match = _VALUE.match(value)
    if match is None:
        raise ValueError(f"malformed entry point value {value!r}")
    obj: Any = import_module(match.group("module"))
    for attr in (match.group("attr") or "").split("."):
        if attr:
            obj = getattr(obj, attr)
    return obj


def load_entry_points(pm: pluggy.PluginManager, group: str, cache_file: Path) -> int:
    """``pm.load_setuptools_entrypoints(group)`` with the scan kept in ``cache_file``. The plugins
    are registered without their distribution (``pm.list_plugin_distinfo``): only ``alertd
    plugins`` lists those, and it scans."""
    key = path_key()
    found = _read(cache_file, key)
    if found is None:
        found = scan(group)
        _write(cache_file, key, found)
    count = 0
    for name, value, _dist, _version in found:
        if pm.has_plugin(name) or pm.is_blocked(name):
            continue
        pm.register(load_value(value), name=name)
        count += 1
    return count
