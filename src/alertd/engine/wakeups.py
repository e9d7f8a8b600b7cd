"""Wake-ups from the other instances (PostgreSQL): their commits wake this instance's dispatcher.

Another instance's commit that added alert events sends a notification (store/pg_listen.py); this
loop's thread hears it and wakes the ``events`` loop, which reads the new events and wakes the
escalation and delivery loops as for a local commit. On SQLite there is nothing to listen to:
the loops' polls see other processes' writes.
"""

from __future__ import annotations

import threading

import trio

from alertd.runtime import Runtime


async def wakeup_loop(runtime: Runtime) -> None:
    url = runtime.store.url
    if url is None:
        return
    from alertd.store.pg_listen import listen  # psycopg: only with a PostgreSQL store

    token = trio.lowlevel.current_trio_token()
    stop = threading.Event()

    def woken() -> None:
        try:
            token.run_sync_soon(runtime.wake, "events")
        except trio.RunFinishedError:
            stop.set()

    try:
        await trio.to_thread.run_sync(
            lambda: listen(url, woken, stop, connect_timeout=runtime.store.busy_timeout), abandon_on_cancel=True
        )
    finally:
        stop.set()
