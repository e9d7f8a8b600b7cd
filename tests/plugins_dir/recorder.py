"""A channel plugin for tests, loaded through ``plugins_dir`` like a user's local plugin.

It "delivers" by appending one JSON line per notification to a file, and can be
told to fail: a real channel as far as alertd can tell.
"""

from __future__ import annotations

import json
from pathlib import Path

import trio
from pydantic import BaseModel, ConfigDict

from alertd.plugin import DeliveryResult, Notification, hookimpl

__version__ = "1.0"


class RecorderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path
    fail_kinds: list[str] = []


class Recorder:
    name = "recorder"
    kinds = ("email", "sms", "voice")
    config_model = RecorderConfig
    concurrency = 4

    async def send(self, notification: Notification, settings: RecorderConfig, runtime: object) -> DeliveryResult:
        if notification.kind in settings.fail_kinds:
            return DeliveryResult("failed", error=f"{notification.kind} is configured to fail")
        line = json.dumps(
            {
                "id": notification.id,
                "alert_id": notification.alert_id,
                "user": notification.user,
                "kind": notification.kind,
                "step": notification.step,
                "purpose": notification.purpose,
                "key": notification.idempotency_key,
                "subject": notification.subject,
                "links": notification.links,
            }
        )

        def append() -> None:
            with settings.path.open("a") as fh:
                fh.write(line + "\n")

        await trio.to_thread.run_sync(append)
        return DeliveryResult("sent", provider_id=f"rec-{notification.id}")


@hookimpl
def alertd_channels() -> list[object]:
    return [Recorder()]
