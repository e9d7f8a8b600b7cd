"""Delivery: claim the outbox rows that are due and send each through its channel.

The queue and its transactions (claim, record a result, fail over) live in
``alertd.outbox``; this is the loop and the one I/O step, calling the channel. The
dispatcher wakes it when notifications are queued (an escalation step, a failover,
closure notices), and a send scheduled for a retry wakes it so that it sleeps until the
earliest due row (a backoff under MAX_IDLE_SECONDS is kept); otherwise it re-reads the queue
at least every MAX_IDLE_SECONDS.
"""

from __future__ import annotations

from typing import Any

import trio

from alertd import metrics, workflow_webhook
from alertd.channels import DeliveryResult
from alertd.log import error_with_cause, get_logger
from alertd.outbox import (
    SEND_TIMEOUT_SECONDS,
    build_notification,
    claim_due,
    next_due,
    record_result,
    requeue_interrupted,
)
from alertd.runtime import Runtime, writes_now
from alertd.workflows import WEBHOOK_PURPOSE

log = get_logger("alertd.outbox")


async def deliver(runtime: Runtime, row: dict[str, Any], limiters: dict[str, trio.CapacityLimiter]) -> None:
    """Send one claimed row through its channel and record what happened. Never raises: a row whose
    result cannot be recorded stays 'sending' until claim_due gives it another go."""
    try:
        await _deliver(runtime, row, limiters)
    except Exception:
        log.error("outbox.deliver_failed", exc_info=True, notification=row["id"])


async def _deliver(runtime: Runtime, row: dict[str, Any], limiters: dict[str, trio.CapacityLimiter]) -> None:
    config = runtime.config
    channel_name = config.channel_for_kind.get(row["kind"])
    timed_out = False
    if row["purpose"] == WEBHOOK_PURPOSE:
        # A workflow's webhook: the core posts it (no channel table needed), with the same deadline.
        channel_name = "workflow"
        result = DeliveryResult("retry", error=f"no answer in {SEND_TIMEOUT_SECONDS:.0f}s")
        with trio.move_on_after(SEND_TIMEOUT_SECONDS) as deadline:
            try:
                result = await workflow_webhook.send(config, row)
            except Exception as exc:
                result = DeliveryResult("retry", error=error_with_cause(exc))
        timed_out = deadline.cancelled_caught
    elif channel_name is None:
        result = DeliveryResult("failed", error=f"no channel is configured for contact kind {row['kind']!r}")
    else:
        channel, settings = config.channels[channel_name]
        # The channel's own table may set its concurrency; otherwise the plugin's default.
        concurrency = getattr(settings, "concurrency", None) or channel.concurrency
        limiter = limiters.get(channel_name)
        if limiter is None or limiter.total_tokens != concurrency:
            limiter = limiters[channel_name] = trio.CapacityLimiter(concurrency)
        async with limiter:
            notification = build_notification(runtime, row, runtime.clock.now())
            result = DeliveryResult("retry", error=f"no answer from {channel_name} in {SEND_TIMEOUT_SECONDS:.0f}s")
            with trio.move_on_after(SEND_TIMEOUT_SECONDS) as deadline:
                try:
                    result = await channel.send(notification, settings, runtime)
                except Exception as exc:
                    log.warning(
                        "outbox.send_raised",
                        channel=channel_name,
                        notification=row["id"],
                        error=error_with_cause(exc),
                    )
                    result = DeliveryResult("retry", error=error_with_cause(exc))
            timed_out = deadline.cancelled_caught
    now = runtime.clock.now()
    await runtime.store.write(
        lambda db: record_result(db, config.raw, row, channel_name, result, now, in_doubt=timed_out)
    )
    if result.status == "retry":
        # The loop slept towards a due time read before this row was pending again: a backoff
        # shorter than its nap would be stretched to it. Wake it to sleep until this retry.
        runtime.wake("delivery")
    metrics.NOTIFICATIONS.labels(channel_name or "-", result.status).inc()
    log.info(
        "outbox.result",
        notification=row["id"],
        alert_id=row["alert_id"],
        user=row["user"],
        kind=row["kind"],
        channel=channel_name,
        status=result.status,
        attempt=row["attempts"],
        error=result.error,
    )


# After a failed write at start (a locked or full database), the next try comes this much later.
RETRY_SECONDS = 1.0


async def _next_due(runtime: Runtime) -> float | None:
    """When the next row is due; on a failed read, now (the claim's write says what is wrong)."""
    try:
        return await runtime.store.read(lambda db: next_due(db, runtime.cluster.instance))
    except Exception:
        log.error("outbox.next_due_failed", exc_info=True)
        return runtime.clock.now()


async def delivery_loop(runtime: Runtime) -> None:
    """Claim what is due, deliver each in its own task (per-channel limits), sleep, repeat."""
    store = runtime.store
    limiters: dict[str, trio.CapacityLimiter] = {}
    # Rows a crash left 'sending' go back to the queue before anything is claimed (later, they
    # could no longer be told from this process's own sends). A database that cannot be written
    # now (locked, full) delays delivery; it must not stop the daemon. With several instances,
    # only rows of instances gone or past their lease (this host's dead daemons are reaped first).
    await runtime.cluster.registered.wait()
    while True:
        now = runtime.clock.now()
        try:
            requeued = await store.write(lambda db, now=now: requeue_interrupted(db, now))
            break
        except Exception:
            log.error("outbox.requeue_failed", exc_info=True)
            await trio.sleep(RETRY_SECONDS)
    if requeued:
        log.warning("outbox.requeued_interrupted", rows=requeued)
    due: float | None = None
    woken = True  # the first pass claims what is overdue at once
    async with trio.open_nursery() as nursery:
        while True:
            wake = runtime.wakeup_event("delivery")
            now = runtime.clock.now()
            if not writes_now(woken, due, now):
                due = await _next_due(runtime)
            claimed: list[dict[str, Any]] = []
            if writes_now(woken, due, now):
                try:
                    claimed = await store.write(
                        lambda db, now=now, lease=runtime.config.raw.cluster.lease_seconds: claim_due(
                            db, now, holder=runtime.cluster.instance, lease=lease
                        )
                    )
                except Exception:
                    log.error("outbox.claim_failed", exc_info=True)
                due = await _next_due(runtime)
            for row in claimed:
                nursery.start_soon(deliver, runtime, row, limiters)
            await runtime.idle(wake, due, more_now=bool(claimed))
            woken = wake.is_set()
