"""Source-side subscriptions (an SNS topic subscribed to an integration URL) and their state."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database


def set_state(db: Database, integration: str, topic: str, state: str, now: float, **detail: Any) -> None:
    confirmed_at = now if state == "confirmed" else None
    db.execute(
        """INSERT INTO subscriptions (integration, topic, state, updated_at, confirmed_at, detail)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (integration, topic) DO UPDATE SET state = excluded.state,
               updated_at = excluded.updated_at,
               confirmed_at = COALESCE(excluded.confirmed_at, subscriptions.confirmed_at),
               detail = excluded.detail""",
        [integration, topic, state, now, confirmed_at, json.dumps(detail)],
    )
