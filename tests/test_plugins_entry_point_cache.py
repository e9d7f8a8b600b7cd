"""``alertd run`` keeps the entry-point scan (alertd.entry_point_cache): the same plugins as
pluggy's own scan, and a new scan whenever a sys.path folder changes or the file is unreadable."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from alertd import entry_point_cache
from alertd.plugins import make_manager

FAKE_PLUGIN = """
from alertd.plugin import hookimpl

@hookimpl
def alertd_startup(runtime):
    return None
"""


def names(pm) -> list[str]:
    return [name for name, plugin in pm.list_name_plugin() if plugin is not None]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sys.path folder holding an installed distribution with one alertd entry point."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "fake_alertd_probe.py").write_text(FAKE_PLUGIN)
    install(folder, "fake_probe", "[alertd]\nfake_probe = fake_alertd_probe\n")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("fake_alertd_probe", None)


def install(folder: Path, name: str, entry_points: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    bump(folder)


def bump(folder: Path) -> None:
    # The metadata folders' times as a later install would leave them (not within the file
    # system's tick); the sys.path folder's own time does not count (a database may live there).
    for info in folder.glob("*.dist-info"):
        stamp = info.stat().st_mtime_ns + 10_000_000
        os.utime(info, ns=(stamp, stamp))


def test_the_kept_scan_loads_the_plugins_pluggy_finds(site: Path, tmp_path: Path) -> None:
    kept = tmp_path / "cache" / "entry-points.json"
    scanned = names(make_manager())
    assert "fake_probe" in scanned
    assert names(make_manager(entry_point_cache=kept)) == scanned  # first: scanned and kept
    assert kept.exists() and kept.stat().st_mode & 0o777 == 0o600
    assert names(make_manager(entry_point_cache=kept)) == scanned  # then: from the file
    (site / "alertd.db-wal").write_text("")  # the sys.path folder changes, no distribution does
    before = kept.read_bytes()
    assert names(make_manager(entry_point_cache=kept)) == scanned
    empty = tmp_path / "cwd"
    empty.mkdir()
    sys.path.insert(0, str(empty))  # python -m puts its working folder first: no distributions there
    try:
        assert names(make_manager(entry_point_cache=kept)) == scanned
    finally:
        sys.path.remove(str(empty))
    assert kept.read_bytes() == before  # still from the file


def test_an_install_or_removal_is_seen_at_the_next_start(site: Path, tmp_path: Path) -> None:
    kept = tmp_path / "entry-points.json"
    assert "fake_probe" in names(make_manager(entry_point_cache=kept))
    (site / "fake_other.py").write_text(FAKE_PLUGIN)
    install(site, "fake_other", "[alertd]\nfake_other = fake_other\n")
    assert {"fake_probe", "fake_other"} <= set(names(make_manager(entry_point_cache=kept)))
    for path in (site / "fake_probe-1.0.dist-info").iterdir():
        path.unlink()
    (site / "fake_probe-1.0.dist-info").rmdir()
    bump(site)
    now = names(make_manager(entry_point_cache=kept))
    assert "fake_probe" not in now and "fake_other" in now
    sys.modules.pop("fake_other", None)


@pytest.mark.parametrize("damage", [b"{not json", b"", b'{"format": "alertd-entry-points/1"}', b"[1, 2]"])
def test_an_unreadable_file_means_a_scan(site: Path, tmp_path: Path, damage: bytes) -> None:
    kept = tmp_path / "entry-points.json"
    expected = names(make_manager(entry_point_cache=kept))
    kept.write_bytes(damage)
    assert names(make_manager(entry_point_cache=kept)) == expected
    assert json.loads(kept.read_text())["format"] == "alertd-entry-points/4"  # rewritten whole


def test_a_file_naming_other_plugins_is_not_used_for_another_sys_path(site: Path, tmp_path: Path) -> None:
    kept = tmp_path / "entry-points.json"
    make_manager(entry_point_cache=kept)
    data = json.loads(kept.read_text())
    data["entry_points"].append(["ghost", "no_such_module_here", "ghost", "1"])
    data["key"][0][1] = data["key"][0][1][1:]  # as if written before the last install into that folder
    kept.write_text(json.dumps(data))
    assert "ghost" not in names(make_manager(entry_point_cache=kept))


def test_entry_point_values_are_loaded_as_importlib_does() -> None:
    import importlib.metadata

    for value in ("alertd.plugins:make_manager", "alertd.plugins", "alertd.plugins : PluginInfo", "os.path:join [x]"):
        ep = importlib.metadata.EntryPoint(name="x", value=value, group="g")
        assert entry_point_cache.load_value(value) is ep.load()
    with pytest.raises(ValueError, match="malformed"):
        entry_point_cache.load_value("not a value!")


def test_a_reinstall_of_the_same_version_is_seen(site: Path, tmp_path: Path) -> None:
    kept = tmp_path / "entry-points.json"
    assert "fake_probe" in names(make_manager(entry_point_cache=kept))
    info = site / "fake_probe-1.0.dist-info"
    for path in info.iterdir():  # pip writes the folder anew, same name, other entry points
        path.unlink()
    info.rmdir()
    (site / "fake_renamed.py").write_text(FAKE_PLUGIN)
    install(site, "fake_probe", "[alertd]\nfake_renamed = fake_renamed\n")
    now = names(make_manager(entry_point_cache=kept))
    assert "fake_renamed" in now and "fake_probe" not in now
    sys.modules.pop("fake_renamed", None)


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_file_others_could_write_is_not_read(site: Path, tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "cache"
    kept = folder / "entry-points.json"
    make_manager(entry_point_cache=kept)
    data = json.loads(kept.read_text())
    data["entry_points"].append(["ghost", "no_such_module_here", "ghost", "1"])  # would fail to import
    kept.write_text(json.dumps(data))
    folder.chmod(mode)
    assert "fake_probe" in names(make_manager(entry_point_cache=kept))  # scanned, not read
    folder.chmod(0o700)
    kept.chmod(0o666)
    assert "fake_probe" in names(make_manager(entry_point_cache=kept))
