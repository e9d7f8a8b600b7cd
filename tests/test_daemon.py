"""The daemon as a real subprocess: health, reload, shutdown, systemd notify."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from helpers import DaemonProcess, write_config


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    yield path, sock
    sock.close()


def receive_until(sock: socket.socket, wanted: str, timeout: float = 15) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append(data)
        if wanted in data.splitlines():
            return got
    raise AssertionError(f"never received {wanted!r}; got {got}")


def test_health_reload_and_clean_shutdown(tmp_path: Path, notify_socket) -> None:
    sock_path, sock = notify_socket
    config = write_config(tmp_path)
    daemon = DaemonProcess(config, env={"NOTIFY_SOCKET": str(sock_path)})
    with daemon:
        messages = receive_until(sock, "READY=1")
        assert any("STATUS=serving on http://127.0.0.1:" in m for m in messages)
        assert daemon.get("/healthz").status_code == 200
        ready = daemon.get("/readyz")
        assert ready.status_code == 200 and ready.text == "ready\n"

        # A good file is swapped in.
        config.write_text(config.read_text().replace('level = "info"', 'level = "debug"'))
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("event=config.reloaded", start=mark)
        assert "RELOADING=1" in receive_until(sock, "RELOADING=1")[-1]
        receive_until(sock, "READY=1")

        # A bad file is rejected; the daemon keeps serving on the old one.
        good = config.read_text()
        config.write_text(good + "\n[server]\nbogus = 1\n")
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        line = daemon.wait_for("event=config.reload_rejected", start=mark)
        assert "TOML syntax error" in line or "server" in line
        config.write_text(good + '\n[users.x]\ntimezone = "Nowhere/Void"\n')
        mark = len(daemon.lines)
        daemon.signal(signal.SIGHUP)
        line = daemon.wait_for("event=config.reload_rejected", start=mark)
        assert "users.x.timezone: expected an IANA time zone name" in line
        assert daemon.get("/healthz").status_code == 200
        assert daemon.get("/readyz").status_code == 200

        started = time.monotonic()
        code = daemon.stop()
        assert code == 0
        assert time.monotonic() - started < 10
        receive_until(sock, "STOPPING=1")
        assert any("event=daemon.stopped" in line for line in daemon.lines)


def test_watchdog_keepalives(tmp_path: Path, notify_socket) -> None:
    sock_path, sock = notify_socket
    config = write_config(tmp_path)
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}
    with DaemonProcess(config, env=env):
        receive_until(sock, "READY=1")
        received = receive_until(sock, "WATCHDOG=1", timeout=5)
        receive_until(sock, "WATCHDOG=1", timeout=5)
        assert received


def test_a_notify_socket_nobody_reads_does_not_freeze_the_daemon(tmp_path: Path, notify_socket) -> None:
    """Keep-alives to a receiver that stopped reading fill its queue (net.unix.max_dgram_qlen,
    10 by default) within a second: a blocking send then froze the event loop, SIGTERM included
    (test_watchdog_keepalives hung so once, its stop slowed by the post-ready web build). Now the
    datagram is dropped, logged once, and the daemon goes on."""
    config = write_config(tmp_path)
    env = {"NOTIFY_SOCKET": str(notify_socket[0]), "WATCHDOG_USEC": "100000"}  # never read here
    daemon = DaemonProcess(config, env=env).start()
    try:
        daemon.wait_for("event=sdnotify.failed")
        assert daemon.get("/healthz").status_code == 200
        assert daemon.stop() == 0
        daemon.wait_for("event=daemon.stopped")
        assert len([line for line in daemon.lines if "event=sdnotify.failed" in line]) == 1
    finally:
        daemon.kill()


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    daemon = DaemonProcess(write_config(tmp_path)).start()
    try:
        daemon.signal(signal.SIGINT)
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=15) == 0
    finally:
        daemon.kill()


def test_invalid_config_does_not_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, "\n[integrations.x]\n")
    daemon = DaemonProcess(config)
    with pytest.raises(AssertionError, match="daemon exited"):
        daemon.start(timeout=20)
    assert daemon.proc is not None and daemon.proc.returncode == 2
    assert any("integrations.x.type: missing required key" in line for line in daemon.lines)
