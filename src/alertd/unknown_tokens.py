"""Counting requests to unknown tokens without a database write for each.

The first request from an address in a minute gets its inbound-log row (written
before the 404); repeats are counted here and added to that row at most once per
``FLUSH_SECONDS`` per address, so a flood costs neither disk nor one fsync per
request. Counts not yet written when the daemon stops (under a second's worth)
are lost; the 404s are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from alertd.ledger import minute_of

FLUSH_SECONDS = 1.0
# Buckets kept in memory; beyond that (many addresses at once) repeats are written as they come.
MAX_BUCKETS = 10_000


@dataclass
class Bucket:
    inbound_id: int
    pending: int = 0  # repeats counted, not yet written
    flushed_at: float = 0.0


class UnknownTokenTally:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, float], Bucket] = {}
        self._minute = 0.0  # the minute of the last take_stale: until it changes, nothing is stale

    def bucket(self, remote_addr: str, now: float) -> Bucket | None:
        """The address's bucket of this minute, if its row exists."""
        return self._buckets.get((remote_addr, minute_of(now)))

    @staticmethod
    def due(bucket: Bucket, now: float) -> int:
        """Count one repeat; return how many repeats to write now (0: not yet)."""
        bucket.pending += 1
        if now - bucket.flushed_at < FLUSH_SECONDS:
            return 0
        pending, bucket.pending, bucket.flushed_at = bucket.pending, 0, now
        return pending

    def started(self, remote_addr: str, now: float, inbound_id: int) -> None:
        """The address's row of this minute exists (just written, or found)."""
        if len(self._buckets) < MAX_BUCKETS:
            self._buckets.setdefault((remote_addr, minute_of(now)), Bucket(inbound_id, flushed_at=now))

    def take_stale(self, now: float) -> list[tuple[int, int]]:
        """Forget buckets of past minutes; return their unwritten repeats as (row id, count)."""
        current = minute_of(now)
        if current == self._minute:
            return []
        self._minute = current
        stale = [key for key in self._buckets if key[1] != current]
        out = []
        for key in stale:
            bucket = self._buckets.pop(key)
            if bucket.pending:
                out.append((bucket.inbound_id, bucket.pending))
        return out

    def drain(self) -> list[tuple[int, int]]:
        """Every unwritten repeat, as (row id, count); the tally is empty afterwards."""
        out = [(b.inbound_id, b.pending) for b in self._buckets.values() if b.pending]
        self._buckets.clear()
        return out
