"""Wake-ups across instances on PostgreSQL: ``NOTIFY`` at commit, ``LISTEN`` in a thread.

A write transaction that inserted ``alert_events`` rows sends ``NOTIFY alertd_events`` before
its COMMIT (store/postgres.py): PostgreSQL delivers it only if the transaction commits, and
to every instance listening, so the others' dispatchers read the new events at once instead
of at their next poll. Polling stays the fallback (a lost notification, a listener between
connections) and SQLite's only way.

``listen`` runs in a thread of its own on one dedicated connection (psycopg's async API does
not run on trio); it calls ``on_notify`` for each notification, and once after every
(re)connection, for what was committed while nobody listened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from alertd.log import get_logger
from alertd.store.pgurl import redacted

log = get_logger("alertd.store")

CHANNEL = "alertd_events"
NOTIFY = f"NOTIFY {CHANNEL}"
# How often the thread looks at ``stop`` while no notification comes.
WAIT_SECONDS = 1.0
# After a lost connection, the next try comes this much later.
RETRY_SECONDS = 1.0


def listen(url: str, on_notify: Callable[[], None], stop: threading.Event, *, connect_timeout: float = 5.0) -> None:
    """Until ``stop`` is set: LISTEN on ``url``, calling ``on_notify`` per notification."""
    lost = False
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout))) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                if lost:
                    log.info("store.listening_again", url=redacted(url))
                on_notify()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=WAIT_SECONDS, stop_after=1):
                        on_notify()
        except psycopg.Error as exc:
            if stop.is_set():  # stopping: the server may be going away too
                return
            if not lost:
                log.warning(
                    "store.listen_lost",
                    url=redacted(url),
                    error=(str(exc).strip().splitlines() or [type(exc).__name__])[0],
                )
            lost = True
            stop.wait(RETRY_SECONDS)
