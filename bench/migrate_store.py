"""`alertd migrate-store`: time and peak memory to copy a large SQLite deployment into PostgreSQL.

    .venv/bin/python bench/migrate_store.py [--alerts 100000] [--outbox-per-alert 0] [--quick]

Builds the database bench/scale.py builds (``--alerts`` open alerts, each with its inbound
message (a JSON body), escalation plan and timeline event; optional sent notifications), starts
a PostgreSQL server as the tests do (tests/postgres.py, Debian's postgresql), and runs
``alertd migrate-store`` as a subprocess into an empty database: wall time and the command's
peak RSS (its VmHWM, read while it runs), and the size of the SQLite file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import rss_kib, summary
from scale import build_database, write_scale_config

from helpers import alertd_cmd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts (and inbound rows) (default 100000)")
    parser.add_argument("--outbox-per-alert", type=int, default=0, help="sent notifications per alert (default 0)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 alerts")
    args = parser.parse_args()
    if args.quick:
        args.alerts = 2000
    if not 100 <= args.alerts <= 10_000_000:
        parser.error("--alerts: 100 to 10000000")
    from postgres import PgServer, find_bindir

    server = PgServer(find_bindir())
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="alertd-bench-migrate-") as tmp_name:
            tmp = Path(tmp_name)
            config = write_scale_config(tmp, users=10, schedules=2)
            build = build_database(config, args.alerts, args.outbox_per_alert)
            db_path = tmp / "alertd.db"
            url = server.empty_database()
            print(f"migrate-store: {args.alerts} alerts, {args.alerts} inbound rows; build {build}")
            started = time.monotonic()
            with tempfile.TemporaryFile("w+") as out:
                child = subprocess.Popen(
                    alertd_cmd("migrate-store", "--from", str(db_path), "--to", url), stdout=out, stderr=out, text=True
                )
                # The child's own peak, read while it runs: getrusage's ru_maxrss would carry this
                # process's peak (the build) across the child's exec.
                peak_kib = 0
                while child.poll() is None:
                    try:
                        peak_kib = max(peak_kib, rss_kib(child.pid))
                    except (OSError, ValueError):
                        pass
                    time.sleep(0.02)
                elapsed = time.monotonic() - started
                out.seek(0)
                output = out.read()
            peak_mb = peak_kib / 1024
            if child.returncode != 0:
                sys.exit(f"migrate-store failed ({child.returncode}): {output}")
            print(output)
            figures = {
                "alerts": args.alerts,
                "sqlite_mb": round(db_path.stat().st_size / 1024 / 1024, 1),
                "wall_s": round(elapsed, 2),
                "peak_rss_mb": round(peak_mb, 1),
            }
            print(figures)
            summary("migrate_store", figures)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
