"""``POST /api/v1/integrations/NAME/replay?since=2h[&outcome=Unmapped][&apply=true][&limit=N]``:
alertd.replay through the API (the same bearer tokens as the rest of /api/v1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import trio

from alertd import replay
from alertd.durations import parse_duration
from alertd.runtime import Runtime


async def replay_request(runtime: Runtime, name: str, args: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body)."""
    integration = runtime.config.integrations.get(name)
    if integration is None:
        return 404, {"error": f"no integration named {name[:100]!r}"}
    try:
        seconds = parse_duration(args.get("since") or "", least=1, most=replay.MAX_SINCE_SECONDS)
    except ValueError as exc:
        return 400, {"error": f"since: {exc}"}
    apply_text = (args.get("apply") or "false").lower()
    if apply_text not in ("true", "false"):
        return 400, {"error": "apply must be true or false"}
    limit_text = args.get("limit") or "1000"
    if not re.fullmatch(r"[0-9]{1,5}", limit_text) or not 1 <= int(limit_text) <= replay.MAX_ROWS:
        return 400, {"error": f"limit must be a whole number from 1 to {replay.MAX_ROWS}"}
    outcome = args.get("outcome")
    if outcome is not None and len(outcome) > 100:
        return 400, {"error": "outcome must be at most 100 characters"}
    now = runtime.clock.now()
    try:
        rows = await runtime.store.read(
            lambda db: replay.select_rows(db, name, now - seconds, outcome, int(limit_text))
        )
    except replay.ReplayError as exc:
        return 400, {"error": str(exc)}
    # The rules on a worker thread (templates have time budgets), then one write job settles all.
    evaluations = await trio.to_thread.run_sync(replay.evaluate_rows, integration, rows)
    apply = apply_text == "true"
    changes = await runtime.store.write(
        lambda db: replay.run(db, runtime.config, integration, rows, evaluations, now, apply=apply)
    )
    return 200, {"applied": apply, "changes": [c.as_dict() for c in changes]}
