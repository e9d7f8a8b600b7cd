"""``POST /api/v1/integrations/NAME/replay?since=2h[&outcome=Unmapped][&apply=true][&limit=N]``:
alertd.replay through the API (the same bearer tokens as the rest of /api/v1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from alertd import replay
from alertd.durations import parse_duration
from alertd.http.api_models import ReplayQuery
from alertd.http.openapi import parse_query
from alertd.runtime import Runtime


async def replay_request(runtime: Runtime, name: str, args: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body)."""
    integration = runtime.config.integrations.get(name)
    if integration is None:
        return 404, {"error": f"no integration named {name[:100]!r}"}
    q = parse_query(ReplayQuery, args)
    if isinstance(q, str):
        return 400, {"error": q}
    seconds = parse_duration(q.since, least=1, most=replay.MAX_SINCE_SECONDS)
    outcome, limit = q.outcome, q.limit
    now = runtime.clock.now()
    try:
        rows = await runtime.store.read(lambda db: replay.select_rows(db, name, now - seconds, outcome, limit))
    except replay.ReplayError as exc:
        return 400, {"error": str(exc)}
    # The rules on a worker thread (templates have time budgets), then one write job settles all.
    evaluations = await trio.to_thread.run_sync(replay.evaluate_rows, integration, rows)
    apply = q.apply == "true"
    changes = await runtime.store.write(
        lambda db: replay.run(db, runtime.config, integration, rows, evaluations, now, apply=apply)
    )
    return 200, {"applied": apply, "changes": [c.as_dict() for c in changes]}
