"""``alertd run`` keeps the garbage collector off until ready, then collects once and turns it back on."""

from __future__ import annotations

import gc
from pathlib import Path

from alertd.daemon import collect_after_start
from helpers import DaemonProcess, wait_until, write_config

# A plugin that notes whether the collector ran during start-up (its alertd_startup hook is called
# before ready) and, from a task of its own, when it is on again.
PROBE = """
import gc
import trio

from alertd.plugin import hookimpl

OUT = {out!r}


@hookimpl
def alertd_startup(runtime):
    during = gc.isenabled()

    async def watch():
        while not gc.isenabled():
            await trio.sleep(0.01)
        with open(OUT, "w") as fh:
            fh.write(f"{{during}} {{gc.get_freeze_count()}}")

    return watch
"""


def test_collector_is_off_during_start_and_on_after_ready(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    out = tmp_path / "gc.txt"
    (plugins / "gc_probe.py").write_text(PROBE.format(out=str(out)))
    config = write_config(tmp_path)
    config.write_text(f'plugins_dir = "{plugins}"\n' + config.read_text())
    daemon = DaemonProcess(config).start()
    try:
        during, frozen = wait_until(lambda: out.exists() and out.read_text().split(), what="the collector back on")
        assert during == "False"  # off while starting
        assert int(frozen) > 10_000  # what start-up built is out of later collections
        assert daemon.get("/readyz").status_code == 200
    finally:
        daemon.stop()


def test_collect_after_start_frees_start_up_garbage_and_turns_the_collector_on() -> None:
    class Cycle:
        closed = False

        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            Cycle.closed = True  # e.g. a socket or file closed by its finaliser

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        Cycle()
        assert not Cycle.closed
        collect_after_start()
        assert Cycle.closed
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()
