"""A benchmark channel (loaded through plugins_dir): records when each send call happens."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from alertd import hookimpl
from alertd.channels import DeliveryResult, Notification


class StampConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path


class Stamp:
    name = "stamp"
    kinds = ("email",)
    config_model = StampConfig
    concurrency = 16

    async def send(self, notification: Notification, settings: StampConfig, runtime: object) -> DeliveryResult:
        at = time.time()
        with settings.path.open("a") as fh:  # a few bytes: cheaper than a thread hop
            fh.write(json.dumps({"alert_id": notification.alert_id, "at": at}) + "\n")
        return DeliveryResult("sent", provider_id=str(notification.id))


@hookimpl
def alertd_channels() -> list[object]:
    return [Stamp()]
