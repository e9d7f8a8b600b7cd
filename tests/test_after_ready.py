"""The work ``alertd run`` does just after ready (the engine's imports, the rules' compilation, the
config warnings, the kept config, the web build) runs on one worker thread at a time: each more
thread holding the GIL made the event loop wait longer for it, and the first ``/readyz`` came
20-60 ms later on a 2-core machine (bench/startup.py). Checked in a real ``alertd run`` whose
after-ready steps are recorded (each made slow, so that two at once could not go unseen)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import DaemonProcess, wait_until
from inbound_fixtures import sns_config

# ``alertd ARGS`` in this interpreter; three after-ready steps of alertd.daemon wrapped: each
# sleeps 0.2 s on its thread and records how many of them ran at once (argv[1], JSON, at each end).
PROBE = """
import json, os, sys, threading, time
import alertd.daemon as daemon

OUT = sys.argv[1]
lock = threading.Lock()
state = {"running": 0, "most": 0, "done": []}

def recorded(name, fn):
    def step(*args):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            time.sleep(0.2)
            return fn(*args)
        finally:
            with lock:
                state["running"] -= 1
                state["done"].append(name)
                with open(OUT + ".tmp", "w") as out:
                    json.dump(state, out)
                os.replace(OUT + ".tmp", OUT)
    return step

for name in ("compile_waiting", "save_pending", "log_warnings"):
    setattr(daemon, name, recorded(name, getattr(daemon, name)))
sys.argv = ["alertd", *sys.argv[2:]]
from alertd.cli import main
main()
"""


def _finished(out: Path) -> dict | None:
    if not out.exists():
        return None
    state = json.loads(out.read_text())
    return state if len(state["done"]) == 3 else None


class ProbedDaemon(DaemonProcess):
    def __init__(self, config: Path, out: Path) -> None:
        super().__init__(config)
        self.out = out

    def command(self) -> list[str]:
        return [sys.executable, "-c", PROBE, str(self.out), "run", "-c", str(self.config)]


def test_after_ready_steps_run_one_at_a_time(tmp_path: Path) -> None:
    config = sns_config(tmp_path, "")
    out = tmp_path / "steps.json"
    with ProbedDaemon(config, out) as daemon:
        assert daemon.get("/readyz").text == "ready\n"
        state = wait_until(lambda: _finished(out), what="the three after-ready steps")
        assert sorted(state["done"]) == ["compile_waiting", "log_warnings", "save_pending"]
        assert state["most"] == 1, state
        assert daemon.get("/healthz").text == "ok\n"
        assert daemon.stop() == 0
