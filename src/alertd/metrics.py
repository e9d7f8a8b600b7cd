"""Prometheus metrics (``GET /metrics``): what came in, what went out, how the store keeps up.

prometheus_client (with the http.server, wsgiref and urllib it imports) is loaded when a
metric is first touched, not at start-up: ``metrics.INBOUND`` and the others are made by the
module's ``__getattr__`` on first access (under a lock: the web warm-up thread may get there
first), then are plain module attributes.

With several instances on one database, each counts what it did itself: the messages it
received, the notifications it sent, and (on the instance holding the ``dispatch`` lock only)
the alert events and escalation steps it dispatched. Summed over the instances, each is the
cluster's figure; ``alertd_cluster_lock_held`` says which instance holds which lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge

    from alertd.runtime import Runtime

    REGISTRY: CollectorRegistry
    INBOUND: Counter
    NOTIFICATIONS: Counter
    ESCALATION_STEPS: Counter
    ALERT_EVENTS: Counter
    STORE_COMMITS: Gauge
    STORE_JOBS: Gauge
    STORE_IN_FLIGHT: Gauge
    LOCKS_HELD: Gauge

_NAMES = (
    "REGISTRY",
    "INBOUND",
    "NOTIFICATIONS",
    "ESCALATION_STEPS",
    "ALERT_EVENTS",
    "STORE_COMMITS",
    "STORE_JOBS",
    "STORE_IN_FLIGHT",
    "LOCKS_HELD",
)
_lock = threading.Lock()


def _make() -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, Counter, Gauge

    registry = CollectorRegistry()
    return {
        "REGISTRY": registry,
        "INBOUND": Counter(
            "alertd_inbound_messages",
            "Inbound messages by integration and outcome",
            ["integration", "outcome"],
            registry=registry,
        ),
        "NOTIFICATIONS": Counter(
            "alertd_notifications",
            "Notification attempts by channel and result",
            ["channel", "result"],
            registry=registry,
        ),
        "ESCALATION_STEPS": Counter("alertd_escalation_steps", "Escalation levels fired", registry=registry),
        "ALERT_EVENTS": Counter(
            "alertd_alert_events",
            "Alert timeline events by kind (counted by the instance dispatching them)",
            ["kind"],
            registry=registry,
        ),
        "STORE_COMMITS": Gauge("alertd_store_commits", "Grouped commits made by the writer", registry=registry),
        "STORE_JOBS": Gauge("alertd_store_jobs", "Write jobs committed by the writer", registry=registry),
        "STORE_IN_FLIGHT": Gauge(
            "alertd_store_jobs_in_flight",
            "Write jobs waiting for the writer (queue, lock or commit)",
            registry=registry,
        ),
        "LOCKS_HELD": Gauge(
            "alertd_cluster_lock_held",
            "1 while this instance holds the named cluster lock (dispatch: alert events; housekeeping)",
            ["lock"],
            registry=registry,
        ),
    }


def load() -> None:
    """Make the metrics now (once)."""
    with _lock:
        if "REGISTRY" not in globals():
            globals().update(_make())


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def inc(counter: Any, *labels: str) -> None:
    """``counter.labels(*labels).inc()``, the child for those label values looked up once:
    ``labels()`` (validation and a lock) costs several ``inc()``s, paid per message on the event
    loop's thread. Label values here are bounded (integrations, outcomes, event kinds)."""
    key = (counter, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = counter.labels(*labels)
    child.inc()


def render(runtime: Runtime) -> bytes:
    from prometheus_client import generate_latest

    from alertd.claims import DISPATCH, HOUSEKEEPING

    load()
    made = globals()  # (a bare name in this module does not go through __getattr__)
    if runtime.store.is_open:
        made["STORE_COMMITS"].set(runtime.store.writer.commits)
        made["STORE_JOBS"].set(runtime.store.writer.jobs)
        made["STORE_IN_FLIGHT"].set(runtime.store.writer.in_flight)
    # Read from this runtime's state at each scrape: a lease that ran out without a renewal
    # (the database unreachable) shows as 0 at once, as hold() then sees it.
    now, held = runtime.clock.now(), runtime.cluster.held
    for lock in (DISPATCH, HOUSEKEEPING):
        made["LOCKS_HELD"].labels(lock).set(1 if held.get(lock, 0.0) > now else 0)
    return generate_latest(made["REGISTRY"])
