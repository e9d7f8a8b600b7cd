"""The coordinator: one change to an alert, applied lifecycle first, then plan.

Whoever changes an alert (an inbound message's mapper decision in ``receive.py`` and
``alertd simulate``; a person's ack or close through ``commands.py``: API, CLI, replies,
signed links) goes through here, inside their write transaction. The order is fixed: the
alert row and its timeline event (``alerts.py``, which knows nothing of plans), then the
escalation plan (``escalation.py``: started on open, stopped on acknowledge and close,
which also cancels what it queued; held by a maintenance window, ``maintenance_windows.py``;
the alert's route and owners, ``routing.py``), then closure notices (``outbox.py``). None of those
modules imports this one or each other upwards, so the lifecycle never calls back into
the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd import alerts, escalation
from alertd.timeline import AlertEvent, EventKind

if TYPE_CHECKING:
    from sqlite_utils import Database

    from alertd import maintenance_windows, routing
    from alertd.config import Config, Integration
    from alertd.decisions import Decision


def open_alert(
    db: Database,
    integration: str,
    policy: str | None,
    decision: Decision,
    inbound_id: int | None,
    now: float,
    *,
    previous: int | alerts.Unknown | None = alerts.UNKNOWN,
    route: routing.Route | None = None,
) -> int:
    """A new alert (or a reopened one, linked to the last closed alert of its source) and its plan.
    ``previous``: that closed alert, if the caller looked it up already (alerts.lookup); ``route``:
    the route the message took (its name and owners go into the alert's row)."""
    alert_id, _events = alerts.open_alert(
        db,
        integration,
        policy,
        decision,
        inbound_id,
        now,
        previous=previous,
        route=None if route is None else route.name,
        recipients=() if route is None else route.recipients,
    )
    if policy is not None:
        escalation.start(db, alert_id, policy, now)
    return alert_id


def acknowledge(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    """Acknowledge (alerts.AlertError when closed or unknown); the plan stops on the first ack."""
    events = alerts.acknowledge(db, alert_id, actor, via, now, **detail)
    if any(event.kind == EventKind.ACKNOWLEDGED for event in events):
        escalation.stop(db, alert_id, now, reason="acknowledged")
    return events


def close(db: Database, alert_id: int, actor: str, via: str, now: float, **detail: Any) -> list[AlertEvent]:
    """Close (alerts.AlertError when already closed or unknown); the plan stops and what it queued
    that has not gone out is cancelled."""
    events = alerts.close(db, alert_id, actor, via, now, **detail)
    escalation.stop(db, alert_id, now, reason="closed")
    return events


def apply_decision(
    db: Database,
    config: Config | None,
    integration: Integration,
    decision: Decision,
    inbound_id: int,
    now: float,
    *,
    route: routing.Route | None = None,
    window: maintenance_windows.Window | None = None,
    previous: int | alerts.Unknown | None = alerts.UNKNOWN,
) -> int | None:
    """Carry out what the mapper decided for one inbound message; return the alert's id, if any.

    ``route``: the routing rule the message matched (its policy and owners; None: the
    integration's own). ``window``: the maintenance window that applies (the new alert's plan
    waits for its end). ``previous``: the source's latest closed alert (alerts.lookup), if known."""
    # The modules below are imported where they are used, not at the top (a person's ack or close,
    # the CLI, needs none of them) nor at the start (an import statement is some 2 µs of the
    # writer's time per message, on a path that rarely needs them).
    name = integration.name
    policy = integration.config.escalation_policy if route is None else route.policy
    if decision.action == "open":
        alert_id = open_alert(db, name, policy, decision, inbound_id, now, previous=previous, route=route)
        if window is not None:
            from alertd import maintenance_windows

            maintenance_windows.hold(db, alert_id, window, now)
        elif policy is None and config is not None and route is not None and route.recipients:
            from alertd import routing

            # Owners are the route's recipients (just assigned): without any, nobody to page.
            routing.page_owners(db, config.raw, alert_id, now)
        return alert_id
    alert_id = decision.alert_id
    if alert_id is None:
        return None
    if decision.action == "append":
        alerts.append(db, alert_id, name, inbound_id, now)
    elif decision.action == "ack":
        acknowledge(db, alert_id, name, "rule", now, inbound_id=inbound_id)
    elif decision.action == "close":
        close(db, alert_id, name, "source", now, inbound_id=inbound_id)
        if integration.config.notify_on_close and config is not None:
            from alertd import outbox, routing

            outbox.enqueue_closure_notices(db, config, alert_id, now)
            routing.owner_closure_notices(db, config, alert_id, now)
    else:
        return None
    return alert_id
