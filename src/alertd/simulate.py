"""Simulations: a sample message through the whole live pipeline, without a signature.

``alertd simulate INTEGRATION FILE`` and ``POST /api/v1/integrations/NAME/simulate``
take a sample (the files in tests/samples/aws, or a plain body, parsed exactly as
``alertd test-integration`` parses it), and record it like a delivery: an inbound-log
row (marked ``simulated``), the mapper's decision, the alert, its escalation and
notifications. Unlike a dry run this changes the database and pages people.

Each simulation gets its own message id (``simulated:<random>:<the sample's id>``), so
running the same sample twice is a repeat of the alarm (appended to the open alert),
not a duplicate delivery, and a simulation never collides with a real delivery.

The CLI goes through the running daemon's API when it can (so the daemon's loops wake
at once and notifications go out); see :func:`run_from_cli`.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from alertd.config import Config, Integration
from alertd.inbound import InboundBatch, InboundRequest, Rejection
from alertd.runtime import Runtime

# The remote address recorded for a simulated message (it came from no network peer).
REMOTE_ADDR = "simulate"


class SimulationError(Exception):
    """A sample that cannot be simulated: ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def max_sample_bytes(config: Config) -> int:
    """A sample is one message: the same bound as a delivery."""
    return config.raw.server.max_body_bytes


async def simulate(runtime: Runtime, name: str, data: bytes, *, via: str) -> dict[str, Any]:
    """Record sample ``data`` on integration ``name`` as a (simulated) delivery; return what happened."""
    from alertd.receive import commit_message

    integration: Integration | None = runtime.config.integrations.get(name)
    if integration is None:
        known = ", ".join(runtime.config.integrations) or "none"
        raise SimulationError(404, f"no integration named {name!r} (known: {known})")
    if not integration.config.enabled:
        raise SimulationError(409, f"integration {name!r} is disabled (enabled = false)")
    limit = max_sample_bytes(runtime.config)
    if len(data) > limit:
        raise SimulationError(413, f"sample larger than server.max_body_bytes ({limit} bytes)")
    message = integration.inbound_type.sample_message(data, integration)
    if isinstance(message, Rejection):
        raise SimulationError(400, f"sample refused: {message.reason}")
    if isinstance(message, InboundBatch):
        return await _simulate_batch(runtime, integration, message, data, via)
    original = message.source_message_id or "-"
    message = dataclasses.replace(message, source_message_id=f"simulated:{secrets.token_hex(8)}:{original}")
    now = runtime.clock.now()
    request = InboundRequest(
        method="POST",
        path=f"simulate/{name}",
        headers={"x-alertd-simulated-via": via},
        body=data,
        remote_addr=REMOTE_ADDR,
        received_at=now,
    )

    recorded = await commit_message(runtime, integration, request, message, now, simulated=True)
    return {
        "integration": name,
        "inbound_id": recorded.inbound_id,
        "outcome": recorded.outcome,
        "alert_id": recorded.alert_id,
        "message_type": message.message_type,
        "source_message_id": message.source_message_id,
        "simulated": True,
    }


async def _simulate_batch(
    runtime: Runtime, integration: Integration, batch: InboundBatch, data: bytes, via: str
) -> dict[str, Any]:
    """Several alerts in one sample (an Alertmanager notification): one row each, one commit."""
    from alertd.receive import commit_batch

    tag = secrets.token_hex(8)
    parts = [
        dataclasses.replace(m, source_message_id=f"simulated:{tag}:{i}:{m.source_message_id or '-'}")
        for i, m in enumerate(batch.messages)
    ]
    now = runtime.clock.now()
    request = InboundRequest(
        method="POST",
        path=f"simulate/{integration.name}",
        headers={"x-alertd-simulated-via": via},
        body=data,
        remote_addr=REMOTE_ADDR,
        received_at=now,
    )
    recorded = await commit_batch(runtime, integration, request, InboundBatch(parts), now, simulated=True)
    first = recorded[0]
    return {
        "integration": integration.name,
        "inbound_id": first.inbound_id,
        "outcome": first.outcome,
        "alert_id": first.alert_id,
        "message_type": parts[0].message_type,
        "source_message_id": parts[0].source_message_id,
        "simulated": True,
        "messages": [{"inbound_id": r.inbound_id, "outcome": r.outcome, "alert_id": r.alert_id} for r in recorded],
    }


# --- the CLI's road ------------------------------------------------------------------


@dataclass
class CliResult:
    result: dict[str, Any]
    via: str  # "daemon" or "database"


def local_api_url(config: Config) -> str:
    """The daemon's own listen address, as the CLI on the same host reaches it."""
    host, _, port = config.raw.server.listen.rpartition(":")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return f"http://{host}:{port}"


def through_daemon(config: Config, name: str, data: bytes) -> dict[str, Any] | None:
    """Post the sample to the running daemon's API; None when no daemon answers on the listen address."""
    import httpx

    tokens = config.raw.server.api_tokens
    if not tokens:
        return None
    url = f"{local_api_url(config)}/api/v1/integrations/{name}/simulate"
    try:
        response = httpx.post(
            url,
            content=data,
            headers={"Authorization": f"Bearer {tokens[0].token.get_secret_value()}"},
            timeout=30,
        )
    except httpx.TransportError:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        reason = body.get("error") if isinstance(body, dict) else None
        raise SimulationError(response.status_code, reason or f"the daemon answered HTTP {response.status_code}")
    return body  # type: ignore[no-any-return]


def directly(config: Config, pm: Any, name: str, data: bytes) -> dict[str, Any]:
    """Record the sample through a writer of our own; a running daemon's event dispatcher sees
    the new alert's events within a second (it polls the table) and wakes its escalation, a
    stopped daemon when it starts."""
    from alertd.startup import StartupError, open_store
    from alertd.store import Store

    async def main() -> dict[str, Any]:
        store = Store.for_settings(config.db_path, config.raw.store)
        try:
            open_store(store)
        except StartupError as exc:
            raise SimulationError(503, str(exc)) from None
        store.start()
        try:
            return await simulate(Runtime(config=config, store=store, pm=pm), name, data, via="cli")
        finally:
            await store.aclose()

    return trio.run(main)


def run_from_cli(config: Config, pm: Any, name: str, path: Path, *, offline: bool = False) -> CliResult:
    """The daemon's API when it is up and ``server.api_tokens`` is set; otherwise the database."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SimulationError(400, f"{path}: cannot read: {exc.strerror}") from None
    limit = max_sample_bytes(config)
    if size > limit:
        raise SimulationError(413, f"{path}: larger than server.max_body_bytes ({limit} bytes)")
    if name not in config.integrations:
        known = ", ".join(config.integrations) or "none"
        raise SimulationError(404, f"no integration named {name!r} (known: {known})")
    data = path.read_bytes()
    if not offline:
        result = through_daemon(config, name, data)
        if result is not None:
            return CliResult(result, "daemon")
    return CliResult(directly(config, pm, name, data), "database")


def describe(outcome: CliResult) -> str:
    r = outcome.result
    alert = f", alert #{r['alert_id']}" if r.get("alert_id") else ""
    road = (
        "through the running daemon"
        if outcome.via == "daemon"
        else "written directly into the database; a running daemon pages within seconds, a stopped one when it starts"
    )
    return f"inbound #{r['inbound_id']} {r['outcome']}{alert}: simulated, {road}"


def to_json(outcome: CliResult) -> str:
    return json.dumps({**outcome.result, "via": outcome.via}, indent=2, default=str)
