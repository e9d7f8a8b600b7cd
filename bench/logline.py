"""bench/logline: the cost of one ``inbound.recorded`` log line (the per-request line of ingest).

    .venv/bin/python bench/logline.py [--lines 50000]

Formats and writes the line through alertd's logging set-up to /dev/null; prints microseconds
per line (the stack walk, the formatting and the handler's write are all in it).
"""

from __future__ import annotations

import argparse
import logging
import time

from alertd.log import get_logger, setup_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    setup_logging("info")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    with open("/dev/null", "w") as sink:
        handler.setStream(sink)
        log = get_logger("alertd.receive")
        began = time.perf_counter()
        for i in range(args.lines):
            log.info("inbound.recorded", inbound_id=i, integration="alarms", outcome="Mapped Open", alert_id=i)
        per_line = (time.perf_counter() - began) / args.lines * 1e6
    print(f"inbound.recorded log line: {per_line:.1f} us per line ({args.lines} lines)")


if __name__ == "__main__":
    main()
