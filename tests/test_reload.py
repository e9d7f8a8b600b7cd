"""Issue 10 item 6: the SIGHUP coordinator lives in ``alertd.reload`` (the daemon only calls it).

In process: a real config file, the real plugin manager, a notifier that records what systemd would
be told. The subprocess test in test_daemon.py covers the signal itself."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import trio

from alertd.config import build_config, load_config
from alertd.plugins import make_manager
from alertd.reload import reload_config, restart_needed
from helpers import write_config


class Recorder:
    """Stands where sdnotify.Notifier stands: keeps the lines instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def notify(self, *lines: str) -> None:
        self.sent.append(lines)


def test_restart_needed_names_each_setting_a_reload_cannot_change(tmp_path: Path) -> None:
    path = tmp_path / "alertd.toml"
    old = build_config(path, {"server": {"listen": "127.0.0.1:8080"}}, None)
    new = build_config(path, {"server": {"listen": "127.0.0.1:9090"}, "log": {"level": "debug"}}, None)
    assert restart_needed(old, new) == [("server.listen", "127.0.0.1:8080", "127.0.0.1:9090")]
    assert restart_needed(old, old) == []


def test_a_valid_file_is_swapped_in_and_an_invalid_one_never(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    pm = make_manager()
    wakeups = {"handoffs": trio.Event()}
    runtime = SimpleNamespace(config=load_config(path, pm), pm=pm, wakeups=wakeups, wake=lambda n: wakeups[n].set())
    first = runtime.config
    notifier = Recorder()
    refreshed: list[object] = []

    async def refresh() -> None:
        refreshed.append(runtime.config)

    path.write_text(path.read_text() + '\n[users.x]\ntimezone = "Nowhere/Void"\n')
    assert trio.run(reload_config, path, runtime, notifier, refresh) is False
    assert runtime.config is first and refreshed == [] and not wakeups["handoffs"].is_set()
    assert notifier.sent == [("RELOADING=1",), ("READY=1", "STATUS=reload rejected; running on the previous config")]

    path.write_text(path.read_text().replace('timezone = "Nowhere/Void"', 'timezone = "Europe/Berlin"'))
    assert trio.run(reload_config, path, runtime, notifier, refresh) is True
    assert runtime.config is not first and "x" in runtime.config.raw.users
    assert refreshed == [runtime.config]
    assert wakeups["handoffs"].is_set()  # each loop syncs with the new config now, not at its next pass
    assert notifier.sent[-1] == ("READY=1", "STATUS=serving (config reloaded)")
