"""systemd's notify protocol: datagrams to $NOTIFY_SOCKET (READY=1, STOPPING=1, WATCHDOG=1)."""

from __future__ import annotations

import os
import socket

from alertd.log import get_logger

log = get_logger("alertd.sdnotify")


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address: str | bytes | None = None
        self._sock: socket.socket | None = None
        if address:
            # A leading '@' names a Linux abstract socket.
            self._address = b"\0" + address[1:].encode() if address.startswith("@") else address
            # Non-blocking: notify() runs on the event loop, and a receiver that stops reading
            # fills its queue in a few datagrams (net.unix.max_dgram_qlen, 10 by default); a
            # blocking send then froze the loop, SIGTERM included. A full queue drops the datagram.
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        self._failing = False  # logged once per run of failures (keep-alives come every few seconds)

    def notify(self, *lines: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(lines).encode(), self._address)  # type: ignore[arg-type]
        except OSError as exc:
            if not self._failing:
                log.warning("sdnotify.failed", error=str(exc))
            self._failing = True
        else:
            self._failing = False

    def watchdog_interval(self) -> float | None:
        """Half of WatchdogSec, when systemd asked for keep-alives from this process."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return max(int(usec) / 1_000_000 / 2, 0.05)
        except ValueError:
            return None
