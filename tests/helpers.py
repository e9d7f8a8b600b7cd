"""Shared test helpers: run the real daemon as a subprocess, write configs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
# A copy of ../shared/samples/aws, so that a clean checkout has them.
SAMPLES = ROOT / "tests" / "samples" / "aws"


def wait_until(probe: Callable[[], T], timeout: float = 20, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; return that, or fail after ``timeout``.
    An IndexError counts as "not yet": a probe like ``db.rows(...)[0]["x"] == y`` asks about a
    row that another process may not have written yet (it is chained to the timeout's error)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = None
        try:
            value = probe()
        except IndexError as exc:
            value, missing = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}") from missing
        time.sleep(0.02)


async def answer_lifespan(receive: Any, send: Any) -> None:
    """An ASGI app's answers to the server's lifespan messages (start-up, then shut-down), for the
    small apps tests and benches serve with hypercorn."""
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alertd_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "alertd", *args]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(alertd_cmd(*args), capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def on_backend(*configs: str | Path) -> None:
    """Under each_backend's postgresql run, the config files given point at PostgreSQL (the
    same database as in_process and inbound_fixtures.Db use for that file; tests/postgres.py)."""
    from postgres import config_on_backend  # postgres imports this module

    for config in configs:
        if Path(config).is_file():
            config_on_backend(Path(config))


def run_cli_in_process(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``alertd ARGS`` through the same ``cli.main`` (its error translation included), in this
    process: output and exit code as ``run_cli`` gives them, without a ~1 s interpreter start.
    For what the command prints and returns; ``run_cli`` stays for what tests the process."""
    from click.testing import CliRunner

    from alertd.cli import main

    on_backend(*(args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--config")))
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        argv, sys.argv = sys.argv, ["alertd", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = argv
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(["alertd", *args], code, stdout, stderr)


# The daemons started by the running test: conftest.py adds their logs to a failed test's report
# (a rare failure under CI load is diagnosed from that report alone).
STARTED: list[DaemonProcess] = []


class DaemonProcess:
    """``alertd run`` as a real subprocess; stderr is collected line by line (``lines``: this
    run's; ``earlier``: the runs before a restart)."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.earlier: list[list[str]] = []
        self._reader: threading.Thread | None = None
        self.url = ""

    def command(self) -> list[str]:
        """What runs the daemon (a test may run it through a probe of its own)."""
        return alertd_cmd("run", "-c", str(self.config))

    def start(self, timeout: float = 30) -> DaemonProcess:
        on_backend(self.config)
        if self.proc is not None:
            self.earlier.append(self.lines)
        elif self not in STARTED:
            STARTED.append(self)
        self.lines = []
        self.proc = subprocess.Popen(
            self.command(),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for("event=http.listening", timeout=timeout)
        self.url = line.split("url=", 1)[1].split()[0]
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if text in line:
                    return line
            if self.proc is not None and self.proc.poll() is not None and self._reader is not None:
                self._reader.join(timeout=1)
                for line in self.lines[start:]:
                    if text in line:
                        return line
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) before {text!r}:\n" + "\n".join(self.lines[-40:])
                )
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {text!r}:\n" + "\n".join(self.lines[-40:]))

    def logged_at(self, text: str) -> float:
        """The time (epoch seconds, from the daemon's own ``ts=``) of this run's first line with
        ``text``: a bound measured from the daemon's start, not from the test's Popen (under load
        an interpreter may take seconds to start)."""
        line = self.wait_for(text)
        stamp = line.split("ts=", 1)[1].split()[0]
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()

    def log_text(self, last: int = 400) -> str:
        """This daemon's stderr, run by run (the last ``last`` lines of each), for a failure report."""
        runs = [*self.earlier, self.lines]
        parts = []
        for i, lines in enumerate(runs, 1):
            cut = f" (last {last} of {len(lines)} lines)" if len(lines) > last else ""
            parts.append(f"--- {self.config} run {i}{cut}\n" + "\n".join(lines[-last:]))
        return "\n".join(parts)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=2)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=2)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()


BASE_CONFIG = """
[server]
listen = "127.0.0.1:{port}"
graceful_timeout = 3
{server}

[store]
path = "{db}"

[log]
level = "{level}"
"""


def write_config(
    directory: Path,
    extra: str = "",
    *,
    port: int | None = None,
    level: str = "info",
    name: str = "alertd.toml",
    server: str = "",
) -> Path:
    """A config for a test daemon on a free port; ``server`` adds lines to [server]."""
    path = directory / name
    text = BASE_CONFIG.format(port=port or free_port(), db=directory / "alertd.db", level=level, server=server)
    path.write_text(text + extra)
    return path
