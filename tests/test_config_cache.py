"""``alertd run``'s cache of the validated config (config.validated_cache): used only for the same
bytes and the same code, written atomically, and any unreadable entry means a full validation."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path

import pytest

import alertd
from alertd.config import ConfigError, load_config
from alertd.config import validated_cache as cache
from alertd.plugins import load_config_plugins_dir, make_manager
from helpers import DaemonProcess, wait_until, write_config

PEOPLE = """
[users.alice]
full_name = "Alice A"
contact = { email = "alice@example.com" }
[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice"]
[integrations.alarms]
type = "aws_sns"
escalation_policy = "ops"
[integrations.alarms.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:alarms"]
"""


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.ENV_DIR, raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.setattr(cache, "_last", None)
    monkeypatch.setattr(cache, "_pending", None)


def start_load(path: Path):  # what `alertd run` does: plugins_dir, then the config, then (after ready) the save
    pm = make_manager()
    load_config_plugins_dir(pm, path, cached=True)
    config = load_config(path, pm, cached=True)
    cache.save_pending()
    return config


def test_the_same_bytes_load_from_the_cache_and_give_the_same_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, PEOPLE)
    first = start_load(path)
    assert not first.from_cache
    assert cache.entry_path(path.absolute()).exists()
    second = start_load(path)
    assert second.from_cache
    assert second.raw == first.raw
    assert second.raw.users["alice"].full_name == "Alice A"
    # What is not cached is built again: the plugin tables and the rulesets.
    assert second.integrations["alarms"].ruleset is not None
    assert second.inbound_settings.keys() == first.inbound_settings.keys()
    # ... and the warnings, once they are logged (just after ready)
    assert second.warnings_later is not None
    assert [w.key for w in second.warnings_later()] == [w.key for w in first.warnings]


def test_any_change_of_the_file_is_validated_in_full(tmp_path: Path) -> None:
    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    size, mtime = path.stat().st_size, path.stat().st_mtime_ns
    # One byte changed, same size and the same modification time: only the bytes tell.
    path.write_text(path.read_text().replace("Alice A", "Alice B"))
    os.utime(path, ns=(mtime, mtime))
    assert path.stat().st_size == size
    changed = start_load(path)
    assert not changed.from_cache
    assert changed.raw.users["alice"].full_name == "Alice B"
    assert start_load(path).from_cache  # the new bytes' entry replaced the old one


def test_a_change_made_invalid_is_reported_not_served_from_the_cache(tmp_path: Path) -> None:
    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    path.write_text(path.read_text().replace('users = ["alice"]', 'users = ["bob"]'))
    with pytest.raises(ConfigError, match="bob"):
        start_load(path)
    assert cache._pending is None  # a file with a problem is never cached


def test_another_alertd_version_is_validated_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    assert start_load(path).from_cache
    monkeypatch.setattr(alertd, "__version__", alertd.__version__ + ".post1")
    assert not start_load(path).from_cache
    assert start_load(path).from_cache  # rewritten for this version


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: entry.write_bytes(b"not a pickle at all"),
        lambda entry: entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2]),  # truncated
        lambda entry: entry.write_bytes(b""),
        lambda entry: entry.write_bytes(pickle.dumps(("alertd-validated-config/1", "x", "y"))),  # wrong shape
        lambda entry: entry.write_bytes(pickle.dumps({"some": "dict"})),
        lambda entry: entry.chmod(0),  # unreadable (root reads it anyway: then it is simply valid)
    ],
    ids=["garbage", "truncated", "empty", "wrong-shape", "wrong-type", "unreadable"],
)
def test_a_damaged_entry_falls_back_silently_to_full_validation(tmp_path: Path, damage) -> None:
    path = write_config(tmp_path, PEOPLE)
    first = start_load(path)
    entry = cache.entry_path(path.absolute())
    damage(entry)
    again = start_load(path)  # no exception, no output: the full validation's result
    assert again.raw == first.raw
    entry.chmod(0o600)
    assert start_load(path).from_cache  # and the entry is good again


def test_the_entry_is_replaced_atomically_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    entry = cache.entry_path(path.absolute())
    assert entry.stat().st_mode & 0o777 == 0o600  # it holds the file's secrets
    assert entry.parent.stat().st_mode & 0o777 == 0o700
    good = entry.read_bytes()

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    # A write that fails before its rename leaves the old entry whole and no temporary file.
    path.write_text(path.read_text().replace("Alice A", "Alice C"))
    monkeypatch.setattr(os, "replace", crash)
    assert not start_load(path).from_cache  # silently not cached
    assert entry.read_bytes() == good
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]


def test_the_cache_directory_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, PEOPLE).absolute()
    assert cache.entry_path(path).parent == tmp_path / ".alertd-cache"
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "systemd-cache"))  # systemd's CacheDirectory=
    assert cache.entry_path(path).parent == tmp_path / "systemd-cache"
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "mine"))
    assert cache.entry_path(path).parent == tmp_path / "mine"
    start_load(path)
    assert cache.entry_path(path).exists()


def test_an_unwritable_cache_directory_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker / "cache"))  # a directory under a file
    path = write_config(tmp_path, PEOPLE)
    assert not start_load(path).from_cache
    assert not start_load(path).from_cache


PROBE = """
from alertd.plugin import hookimpl

@hookimpl
def alertd_startup(runtime):
    with open({out!r}, "a") as fh:
        fh.write("started\\n")
"""


def test_a_restart_from_the_cache_serves_loads_plugins_dir_and_reloads(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    out = tmp_path / "probe.txt"
    (plugins / "probe.py").write_text(PROBE.format(out=str(out)))
    path = write_config(tmp_path, PEOPLE)
    path.write_text(f'plugins_dir = "{plugins}"\n' + path.read_text())
    daemon = DaemonProcess(path).start()
    try:
        assert "from_cache=false" in daemon.wait_for("event=config.loaded")
        entry = cache.entry_path(path.absolute())
        wait_until(entry.exists, what="the cache entry written after ready")
        assert (entry.parent / "entry-points.json").exists()  # alertd.entry_point_cache's
        daemon.stop()
        daemon.start()
        assert "from_cache=true" in daemon.wait_for("event=config.loaded")
        assert daemon.get("/readyz").status_code == 200
        wait_until(lambda: out.read_text().count("started") == 2, what="the plugins_dir plugin at both starts")
        # The first reload after a start from the cache validates the new file in full.
        path.write_text(path.read_text().replace('users = ["alice"]', 'users = ["nobody"]'))
        daemon.signal(signal.SIGHUP)
        assert "nobody" in daemon.wait_for("event=config.reload_rejected")
        path.write_text(path.read_text().replace('users = ["nobody"]', 'users = ["alice"]').replace("Alice A", "Al"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("event=config.reloaded")
        assert daemon.stop() == 0
    finally:
        daemon.kill()


JINJA_PROBE = """
import sys
from alertd.plugin import hookimpl

@hookimpl
def alertd_startup(runtime):  # called before ready
    with open({out!r}, "a") as fh:
        fh.write(f"{{'jinja2' in sys.modules}}\\n")
"""

OPERATOR_RULES = """
[integrations.plain]
type = "webhook"
token = "webhook-open-token-0123456789abcdefgh"
[integrations.plain.options]
delivery_id_header = ""
[integrations.plain.rules]
source_id = "data^0^id"
open_when = { field = "labels^severity", equals = "page" }
title = "{{ data[0].name | capitalize }}{% if data[0].host %} on {{ data[0].host }}{% endif %}"
"""


def test_a_start_from_the_cache_parses_the_files_rule_templates_after_ready(tmp_path: Path) -> None:
    from inbound_fixtures import Db

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    out = tmp_path / "probe.txt"
    (plugins / "probe.py").write_text(JINJA_PROBE.format(out=str(out)))
    path = write_config(tmp_path, OPERATOR_RULES)
    path.write_text(f'plugins_dir = "{plugins}"\n' + path.read_text())
    daemon = DaemonProcess(path).start()
    try:
        wait_until(cache.entry_path(path.absolute()).exists, what="the cache entry")
        daemon.stop()
        daemon.start()
        assert "from_cache=true" in daemon.wait_for("event=config.loaded")
        daemon.wait_for("event=rules.compiled")
        # At the first start the file's templates were parsed (jinja2) before ready; not now.
        assert out.read_text().split() == ["True", "False"]
        payload = {"data": [{"id": "d1", "name": "disk full", "host": "db1"}], "labels": {"severity": "page"}}
        assert daemon.post("/in/webhook-open-token-0123456789abcdefgh", json=payload).status_code == 200
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    (alert,) = Db(path.parent / "alertd.db").alerts()
    assert alert["title"] == "Disk full on db1"


def test_another_jinja2_or_regex_makes_the_entry_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    real = importlib.util.find_spec

    def moved(name: str, *args: object):
        spec = real(name, *args)
        if name == "jinja2" and spec is not None:
            spec.origin = str(tmp_path / "elsewhere.py")  # as after an upgrade: another file
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", moved)
    assert not start_load(path).from_cache


@pytest.mark.parametrize(
    "expose",
    [
        lambda entry: entry.parent.chmod(0o777),  # a folder others can write (as /tmp)
        lambda entry: entry.parent.chmod(0o770),  # or a group
        lambda entry: entry.chmod(0o666),  # an entry others can write
        lambda entry: os.chown(entry.parent, 65534, 65534),  # a folder another user made first
        lambda entry: os.chown(entry, 65534, 65534),  # an entry another user wrote
    ],
    ids=["dir-world-writable", "dir-group-writable", "entry-writable", "dir-other-owner", "entry-other-owner"],
)
def test_an_entry_another_user_could_have_written_is_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expose
) -> None:
    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    entry = cache.entry_path(path.absolute())
    if os.geteuid() != 0 and "chown" in expose.__code__.co_names:
        pytest.skip("changing a file's owner needs root")
    loaded: list[object] = []
    real_load = pickle.load
    monkeypatch.setattr(cache.pickle, "load", lambda fh: loaded.append(fh) or real_load(fh))
    expose(entry)
    monkeypatch.setattr(cache, "_last", None)
    again = start_load(path)
    assert not again.from_cache and loaded == []  # validated in full, nothing unpickled
    assert again.raw.users["alice"].full_name == "Alice A"


def test_old_entries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2, raising=False)
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "shared"))
    paths = []
    for n in range(4):
        folder = tmp_path / f"c{n}"
        folder.mkdir()
        paths.append(write_config(folder, PEOPLE))
        start_load(paths[-1])
        stamp = 10**18 + n * 10**9  # each later than the one before (and than none written now)
        os.utime(cache.entry_path(paths[-1].absolute()), ns=(stamp, stamp))
    (tmp_path / "shared" / ".config-left.tmp").write_bytes(b"killed writer")
    os.utime(tmp_path / "shared" / ".config-left.tmp", (0, 0))
    start_load(paths[0])  # served from nothing: written again, the two oldest others go
    kept = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert kept == sorted(cache.entry_path(p.absolute()).name for p in (paths[0], paths[3]))


@pytest.mark.parametrize("module", ["alertd.durations", "alertd.config.checks", "alertd.config.workflow_checks"])
def test_a_change_of_the_code_a_cached_load_skips_makes_the_entry_stale(
    tmp_path: Path, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Durations parse inside the models' validators, and the tree's cross-checks (references,
    workflows) are not run again on a cached load: their code is part of the fingerprint."""
    import importlib
    import shutil

    path = write_config(tmp_path, PEOPLE)
    start_load(path)
    assert start_load(path).from_cache
    copy = tmp_path / "edited.py"
    shutil.copy(importlib.import_module(module).__file__, copy)
    copy.write_text(copy.read_text() + "\n# edited\n")  # an edit in place: size and time change
    monkeypatch.setattr(importlib.import_module(module), "__file__", str(copy))
    assert not start_load(path).from_cache


def test_the_fingerprint_does_not_depend_on_what_is_imported_yet() -> None:
    """`alertd run` looks the entry up for plugins_dir before the loader (and its checks) are
    imported, and again after: both lookups must see the same fingerprint."""
    import subprocess
    import sys

    probe = (
        "from alertd.config import validated_cache as c\n"
        "first = c.fingerprint()\n"
        "import alertd.config.load\n"
        "print(first == c.fingerprint())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


def test_a_first_start_parses_the_file_once_and_a_file_changed_meanwhile_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alertd.config import reading

    parsed: list[int] = []
    real_parse = reading.parse_toml
    monkeypatch.setattr(reading, "parse_toml", lambda text: parsed.append(len(text)) or real_parse(text))
    path = write_config(tmp_path, PEOPLE)
    config = start_load(path)  # plugins_dir, then the validation: one parse
    assert not config.from_cache and len(parsed) == 1
    cache.entry_path(path.absolute()).unlink()
    monkeypatch.setattr(cache, "_last", None)
    pm = make_manager()
    load_config_plugins_dir(pm, path, cached=True)
    path.write_text(path.read_text().replace("Alice A", "Alice B"))  # edited between the two reads
    again = load_config(path, pm, cached=True)
    assert len(parsed) == 3 and again.raw.users["alice"].full_name == "Alice B"


def test_a_start_from_the_cache_logs_the_same_warnings_once_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from alertd.reload import log_warnings

    path = write_config(tmp_path, PEOPLE)  # alice's e-mail: no channel serves it
    first = start_load(path)
    assert [w.key for w in first.warnings] == ["users.alice"]
    second = start_load(path)
    assert second.from_cache and second.warnings == []  # not worked out before ready
    with caplog.at_level("WARNING"):
        log_warnings(second)
    assert second.warnings == first.warnings
    assert [r.getMessage() for r in caplog.records if "config.warning" in r.getMessage()] != []
