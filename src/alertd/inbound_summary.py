"""Accepted inbound messages in the log: one summary line per integration and second.

A line per message (``inbound.recorded``, formatted and written to stderr on the event loop's
thread) was a sixth of the daemon's CPU under load, and the inbound log table already keeps
every message with its outcome (``alertd inbound-log``). So accepted messages are counted, and
at most once a second each integration that had some gets one line::

    event=inbound.accepted integration=alarms count=37 first_inbound_id=1201 last_inbound_id=1237
    outcomes="Mapped Appended: 20, Mapped Open: 12, Mapped Closed: 5"

Rejections keep their own line each (``inbound.rejected``, receive.py); ``[log] level =
"debug"`` adds the per-message ``inbound.recorded`` line back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from alertd.log import get_logger

log = get_logger("alertd.inbound")

# How long accepted messages are counted before their summary line is written.
SUMMARY_SECONDS = 1.0


@dataclass
class _Tally:
    count: int = 0
    first_id: int = 0
    last_id: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class AcceptedSummary:
    """Counts accepted messages; a background task writes the lines a second after the first."""

    def __init__(self, seconds: float = SUMMARY_SECONDS) -> None:
        self.seconds = seconds
        self._tallies: dict[str, _Tally] = {}
        self._pending = False  # a flush task is waiting

    def add(self, runtime: Any, integration: str, outcome: str, inbound_id: int) -> None:
        tally = self._tallies.get(integration)
        if tally is None:
            tally = self._tallies[integration] = _Tally(first_id=inbound_id)
        tally.count += 1
        tally.last_id = max(tally.last_id, inbound_id)
        tally.first_id = min(tally.first_id, inbound_id)
        tally.outcomes[outcome] += 1
        if self._pending:
            return
        if runtime.nursery is None:  # not in a running daemon: nothing to wait in, write it now
            self.flush()
            return
        self._pending = True
        runtime.nursery.start_soon(self._flush_later)

    async def _flush_later(self) -> None:
        try:
            await trio.sleep(self.seconds)
        finally:
            # Also when the daemon stops (cancelled): the counted messages get their line.
            self._pending = False
            self.flush()

    def flush(self) -> None:
        tallies, self._tallies = self._tallies, {}
        for name, tally in tallies.items():
            outcomes = ", ".join(f"{o}: {n}" for o, n in sorted(tally.outcomes.items()))
            log.info(
                "inbound.accepted",
                integration=name,
                count=tally.count,
                first_inbound_id=tally.first_id,
                last_inbound_id=tally.last_id,
                outcomes=outcomes,
            )


def accepted_summary(runtime: Any) -> AcceptedSummary:
    """The running daemon's summary (its ``accepted_summary`` service), made on first use; an
    ingest worker puts its own in that place (alertd.ingest_worker)."""
    summary = runtime.services.get("accepted_summary")
    if summary is None:
        summary = runtime.services["accepted_summary"] = AcceptedSummary()
    return summary
