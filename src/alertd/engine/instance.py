"""This instance's row and leases: register at start, renew every third of the lease, unregister
at a clean stop. ``hold`` is how a loop that must run on one instance at a time (the event
dispatcher, housekeeping) asks for its named lock.

Rows and SQL live in ``alertd.instances`` and ``alertd.claims``.
"""

from __future__ import annotations

import trio

from alertd import __version__, claims, instances
from alertd.log import get_logger
from alertd.runtime import Runtime

log = get_logger("alertd.cluster")

# After a failed registration (a locked database), the next try comes this much later.
RETRY_SECONDS = 1.0


def _lease(runtime: Runtime) -> float:
    return runtime.config.raw.cluster.lease_seconds


async def instance_loop(runtime: Runtime) -> None:
    store, state = runtime.store, runtime.cluster
    config = runtime.config
    digest = instances.config_hash(config.path)
    while True:
        now = runtime.clock.now()

        def register(db, now=now):  # type: ignore[no-untyped-def]
            instances.register(db, state.instance, __version__, digest, now)
            return instances.reap_local(db, state.instance)

        try:
            reaped = await store.write(register)
            break
        except Exception:
            log.error("cluster.register_failed", exc_info=True)
            await trio.sleep(RETRY_SECONDS)
    log.info("cluster.registered", instance=state.instance, reaped=len(reaped))
    state.registered.set()
    try:
        while True:
            if runtime.config is not config:  # a reload: the file's hash changed with it
                config = runtime.config
                digest = await trio.to_thread.run_sync(instances.config_hash, config.path)
            now, lease = runtime.clock.now(), _lease(runtime)
            try:
                renewed = await store.write(
                    lambda db, now=now, lease=lease, d=digest: instances.heartbeat(
                        db, state.instance, __version__, d, now, lease
                    )
                )
                state.held.update(renewed)
            except Exception:
                log.error("cluster.renew_failed", exc_info=True)
            await _sleep_until(runtime, now + claims.renew_interval(lease))
    finally:
        # The cursor's last save may take up to its own 5 s bound (a loaded disk): the lock goes
        # only after it, or the next leader would read the old cursor and hand events out again.
        with trio.CancelScope(shield=True), trio.move_on_after(9):
            with trio.move_on_after(6):
                await state.cursor_saved.wait()
            try:
                await store.write(lambda db: instances.unregister(db, state.instance))
            except Exception:
                log.warning("cluster.unregister_failed", exc_info=True)


async def _sleep_until(runtime: Runtime, at: float) -> None:
    """Until ``at`` on the runtime's clock (a test's clock may jump: it is looked at every second);
    no wake-up: renewals are the only writes of an idle instance, once per renew interval."""
    while (left := at - runtime.clock.now()) > 0:
        await trio.sleep(min(left, 1.0))


async def hold(runtime: Runtime, name: str) -> bool:
    """Whether this instance holds lock ``name`` now; when not, try to take it (at most once per
    renew interval: a write). The instance loop renews the locks held."""
    state = runtime.cluster
    now = runtime.clock.now()
    if state.held.get(name, 0.0) > now:
        return True
    lease = _lease(runtime)
    if now - state.tried.get(name, float("-inf")) < claims.renew_interval(lease):
        return False
    await state.registered.wait()
    state.tried[name] = now
    try:
        until = await runtime.store.write(lambda db: claims.acquire(db, name, state.instance, now, lease))
    except Exception:
        log.error("cluster.lock_failed", exc_info=True, lock=name)
        return False
    if until is None:
        return False
    state.held[name] = until
    log.info("cluster.lock_taken", lock=name, instance=state.instance)
    return True
