"""What a stranger can cost the daemon (issue 9, items 1-3), measured on a real daemon.

    .venv/bin/python bench/inbound_abuse.py [--junk 200] [--stalled 500] [--idle 10]

- junk: N posts of 256 KiB to unknown tokens; database growth (pages in use, and
  the WAL file), then whether a signed alarm is still accepted (store.max_size_mb = 4).
- stalled: N connections send 280 KiB of a 288 KiB body to a valid token and stall;
  how long until all are answered and closed, their statuses, and the daemon's RSS
  at the start, at the peak and after (defaults: body_timeout 10 s, 100 in flight).
- idle: SIGTERM with N idle keep-alive connections (graceful_timeout 10 s): exit time.
"""

from __future__ import annotations

import argparse
import signal
import socket
import tempfile
import time
from pathlib import Path

from common import TOKEN, DaemonProcess, sns_config  # (common puts tests/ on sys.path)

from inbound_fixtures import post_envelope
from test_inbound_hardening import Answer, alarm, host_port, rss_kib, stalled_sender
from test_inbound_hardening import db_bytes as used_bytes


def junk(directory: Path, count: int) -> None:
    import httpx

    config = sns_config(directory)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nmax_size_mb = 4\n"))
    db = directory / "alertd.db"
    wal = directory / "alertd.db-wal"
    with DaemonProcess(config) as daemon:
        before = used_bytes(db)
        started = time.monotonic()
        with httpx.Client(base_url=daemon.url, timeout=30) as client:
            statuses = {client.post(f"/in/junk-{i}", content=b"x" * 256 * 1024).status_code for i in range(count)}
        took = time.monotonic() - started
        grown = used_bytes(db) - before
        status = post_envelope(daemon, alarm("AfterJunk")).status_code
        print(
            f"junk: {count} x 256 KiB to unknown tokens in {took:.1f} s, statuses {sorted(statuses)}; "
            f"database grew {grown} bytes (WAL file {wal.stat().st_size if wal.exists() else 0} bytes); "
            f"signed alarm afterwards: {status}"
        )


def stalled(directory: Path, count: int) -> None:
    config = sns_config(directory)
    with DaemonProcess(config) as daemon:
        host, port = host_port(daemon)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        post_envelope(daemon, alarm("Warmup"))
        start = peak = rss_kib(pid)
        opened = time.monotonic()
        socks = [stalled_sender(host, port, TOKEN, 288 * 1024, 280 * 1024) for _ in range(count)]
        answers = [Answer(s) for s in socks]
        while not all([a.poll() for a in answers]):
            peak = max(peak, rss_kib(pid))
            time.sleep(0.05)
        took = time.monotonic() - opened
        for sock in socks:
            sock.close()
        statuses = [a.status.decode() for a in answers]
        after = rss_kib(pid)
        print(
            f"stalled: {count} senders all answered and closed after {took:.1f} s "
            f"({ {s: statuses.count(s) for s in sorted(set(statuses))} }); RSS start {start / 1024:.1f} MB, "
            f"peak {peak / 1024:.1f} MB, after {after / 1024:.1f} MB ({(after - start) / 1024:+.1f} MB)"
        )


def idle(directory: Path, count: int) -> None:
    config = sns_config(directory)
    config.write_text(config.read_text().replace("graceful_timeout = 3", "graceful_timeout = 10"))
    with DaemonProcess(config) as daemon:
        host, port = host_port(daemon)
        socks = []
        for i in range(count):
            sock = socket.create_connection((host, port))
            sock.sendall(f"GET {'/healthz' if i % 2 else '/in/' + TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sock.recv(65536)
            socks.append(sock)
        assert daemon.proc is not None
        sent = time.monotonic()
        daemon.signal(signal.SIGTERM)
        code = daemon.proc.wait(30)
        print(f"idle: SIGTERM with {count} idle keep-alive connections: exit {code} in {time.monotonic() - sent:.2f} s")
        for sock in socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--junk", type=int, default=200)
    parser.add_argument("--stalled", type=int, default=500)
    parser.add_argument("--idle", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, n in (("junk", junk, args.junk), ("stalled", stalled, args.stalled), ("idle", idle, args.idle)):
            if n:
                directory = Path(tmp) / name
                directory.mkdir()
                fn(directory, n)


if __name__ == "__main__":
    main()
