"""Housekeeping chores: pruning the inbound log (and heartbeat pings) and reply receipts by their
retention settings.

Run once at start and then on the timer of ``alertd.engine.housekeeping``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alertd import ledger, replies
from alertd.heartbeats import prune_pings
from alertd.log import get_logger

if TYPE_CHECKING:
    from alertd.runtime import Runtime

log = get_logger("alertd.maintenance")


async def _prune_all(runtime: Runtime, prune: Callable[[Any, float], int], days: float) -> int:
    """Delete in batches (each its own short write) until nothing older than ``days`` is left."""
    cutoff = runtime.clock.now() - days * 86400
    total = 0
    while removed := await runtime.store.write(lambda db: prune(db, cutoff)):
        total += removed
    return total


async def prune_inbound_log(runtime: Runtime) -> int:
    days = runtime.config.raw.store.inbound_retention_days
    total = await _prune_all(runtime, ledger.prune, days)
    if total:
        log.info("inbound_log.pruned", rows=total, older_than_days=days)
    # Heartbeat pings are kept as long as the inbound log.
    await _prune_all(runtime, prune_pings, days)
    return total


async def prune_reply_receipts(runtime: Runtime) -> int:
    """Forget provider webhook ids (alertd.replies.first_receipt) past their replay window."""
    days = runtime.config.raw.store.reply_receipt_retention_days
    total = await _prune_all(runtime, replies.prune_receipts, days)
    if total:
        log.info("reply_receipts.pruned", rows=total, older_than_days=days)
    return total
