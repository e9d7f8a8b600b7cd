"""Prometheus metrics (``GET /metrics``): what came in, what went out, how the store keeps up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

if TYPE_CHECKING:
    from alertd.runtime import Runtime

REGISTRY = CollectorRegistry()

INBOUND = Counter(
    "alertd_inbound_messages",
    "Inbound messages by integration and outcome",
    ["integration", "outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "alertd_notifications", "Notification attempts by channel and result", ["channel", "result"], registry=REGISTRY
)
ESCALATION_STEPS = Counter("alertd_escalation_steps", "Escalation levels fired", registry=REGISTRY)
ALERT_EVENTS = Counter("alertd_alert_events", "Alert timeline events by kind", ["kind"], registry=REGISTRY)
STORE_COMMITS = Gauge("alertd_store_commits", "Grouped commits made by the writer", registry=REGISTRY)
STORE_JOBS = Gauge("alertd_store_jobs", "Write jobs committed by the writer", registry=REGISTRY)
STORE_IN_FLIGHT = Gauge(
    "alertd_store_jobs_in_flight", "Write jobs waiting for the writer (queue, lock or commit)", registry=REGISTRY
)


def render(runtime: Runtime) -> bytes:
    if runtime.store.is_open:
        STORE_COMMITS.set(runtime.store.writer.commits)
        STORE_JOBS.set(runtime.store.writer.jobs)
        STORE_IN_FLIGHT.set(runtime.store.writer.in_flight)
    return generate_latest(REGISTRY)
