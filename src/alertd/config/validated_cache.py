"""The validated ``[...]`` tree of a config file, kept between starts of ``alertd run``.

Parsing and validating a large file (1,000 schedules: 600 KB) took a sixth of the time to ready,
and both are pure functions of the file's bytes and of alertd's models. So ``alertd run`` keeps
the validated ``RawConfig`` (pickled) keyed by the SHA-256 of the bytes and by a fingerprint of
the code that validated them (alertd's version, the model modules' files, Python and pydantic);
the next start with the same bytes and code unpickles it (a fifth of the cost) instead.

What is not cached is redone at every start: the plugin tables (their plugins may have changed),
rulesets and warnings; the file's own rule templates, checked when it was cached, are compiled
after ready without being parsed again (the jinja2 and regex files are in the fingerprint).
Only a file without any problem is cached; a miss, a stale entry or a cache that cannot be read
for any reason (corrupt, truncated, unreadable) falls back to the full validation, silently, and
the entry is rewritten after ready (``save_pending``), atomically (a temporary file renamed over
it). ``check-config`` and SIGHUP reloads always validate in full.

Where: ``$ALERTD_CACHE_DIR``, else systemd's ``$CACHE_DIRECTORY`` (``CacheDirectory=`` in the
unit), else ``.alertd-cache/`` beside the config file; one file per config path. Unpickling runs
code named by the file, so an entry is read only if it and its directory belong to the daemon's
user and no group or other can write them (alertd.private_files): a ``.alertd-cache`` another user
made beside a config in ``/tmp`` is ignored (and not written to). The entry holds the file's
secrets, as the file does: it is written 0600. At most ``MAX_ENTRIES`` entries (one per config
path) are kept: the least recently written ones beyond that are removed at each save.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertd.private_files import ENV_DIR as ENV_DIR  # where the folder is (private_files.cache_dir)
from alertd.private_files import cache_dir, file_stamps, prune_entries, read_entry, write_private

if TYPE_CHECKING:
    from alertd.config.models import RawConfig

_FORMAT = "alertd-validated-config/1"
# An entry far larger than any config's validated tree is not read (a bound on what is unpickled).
MAX_ENTRY_BYTES = 256 * 1024 * 1024
# Entries (config paths) kept in one directory; older ones are removed when a new one is written.
MAX_ENTRIES = 16
# The modules whose code decides what a file validates to (models and their validators), and
# the cross-checks of the tree a cached load skips (load._from_validated).
_MODEL_MODULES = (
    "alertd.config.models",
    "alertd.config.workflow_models",
    "alertd.config.checks",
    "alertd.config.workflow_checks",
    "alertd.durations",
    "alertd.rules_config",
    "alertd.shifts",
    "alertd.kinds",
    "alertd.weekdays",
    "alertd.store.pgurl",
)

_RULE_LIBRARIES = ("jinja2", "regex")

# The last entry a lookup loaded, handed to the next lookup of the same bytes: start-up looks
# for plugins_dir first, then validates (one unpickle for both).
_last: tuple[Path, str, RawConfig] | None = None
# An entry to write after ready: (entry file, digest, validated tree).
_pending: tuple[Path, str, RawConfig] | None = None


def entry_path(config_path: Path) -> Path:
    name = hashlib.sha256(str(config_path).encode()).hexdigest()[:24]
    return cache_dir(config_path) / f"config-{name}.pickle"


def digest_of(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def fingerprint() -> tuple[Any, ...]:
    """What else than the bytes decides the validated tree; any change makes every entry stale."""
    import pydantic

    import alertd
    from alertd.config.models import RawConfig  # noqa: F401  (imports every module in _MODEL_MODULES)

    # The model modules' files, imported or not yet; the files of the libraries that judged the
    # rules' templates and regexes (not imported here).
    paths = [(name, getattr(sys.modules.get(name), "__file__", None) or _origin(name)) for name in _MODEL_MODULES]
    paths += [(name, _origin(name)) for name in _RULE_LIBRARIES]
    return (_FORMAT, alertd.__version__, sys.version, pydantic.VERSION, file_stamps(paths))


def _origin(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return spec.origin if spec is not None and spec.origin else ""


def lookup(config_path: Path, digest: str) -> RawConfig | None:
    """The validated tree of the bytes with ``digest``, or None (never raises)."""
    global _last
    last, _last = _last, None
    if last is not None and last[0] == config_path and last[1] == digest:
        _last = last  # kept until load_config takes it (plugins_dir looks first)
        return last[2]
    raw = read_entry(entry_path(config_path), MAX_ENTRY_BYTES, pickle.loads, _FORMAT, digest, fingerprint)
    if raw is None:  # missing, corrupt, truncated, from another code: validate in full
        return None
    from alertd.config.models import RawConfig

    if not isinstance(raw, RawConfig):
        return None
    _last = (config_path, digest, raw)
    return raw


def take(config_path: Path, digest: str) -> RawConfig | None:
    """``lookup``, and forget the kept entry (the config is built now)."""
    global _last
    raw = lookup(config_path, digest)
    _last = None
    return raw


def remember(config_path: Path, digest: str, raw: RawConfig) -> None:
    """Queue the entry for ``save_pending`` (after ready: pickling a large tree takes tens of ms)."""
    global _pending
    _pending = (config_path, digest, raw)


def save_pending() -> None:
    """Write the queued entry, if any; a directory that cannot be written is silently skipped."""
    global _pending
    pending, _pending = _pending, None
    if pending is not None:
        save(*pending)


def save(config_path: Path, digest: str, raw: RawConfig) -> bool:
    entry = entry_path(config_path)
    try:
        data = pickle.dumps((_FORMAT, fingerprint(), digest, raw), protocol=pickle.HIGHEST_PROTOCOL)
        if not write_private(entry, data, ".config-"):
            return False
    except Exception:  # (OSError, a tree pickle refuses ...): a cache never stops the daemon
        return False
    _prune(entry.parent)
    return True


def _prune(directory: Path) -> None:
    """Keep the ``MAX_ENTRIES`` most recently written entries (each config path run from this
    directory leaves one) and no temporary file a killed writer left (the code cache's too)."""
    prune_entries(directory, "config-", MAX_ENTRIES, others=(".code-",))
