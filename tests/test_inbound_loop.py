"""The event loop's own work per inbound message (the trio thread is what a busy daemon waits on).

Counted with a trio Instrument on the in-process daemon: what an accepted SNS notification costs
the loop besides its request's task (tasks started, thread hand-offs), not timed."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from inbound_fixtures import TOKEN, alarm_notification, sns_config
from inprocess import in_process
from sns_signing import headers_for


class Spawned(trio.abc.Instrument):
    def __init__(self) -> None:
        self.names: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.names.append(task.name)


async def test_a_notification_starts_no_task_for_after_commit(tmp_path: Path) -> None:
    # aws_sns's after_commit has work only for subscription confirmations (after_commit_for):
    # a notification must not cost a task spawn and a step of its own.
    async with in_process(sns_config(tmp_path)) as app:
        spawned = Spawned()
        for i in range(3):
            envelope = alarm_notification(f"Loop{i}")
            trio.lowlevel.add_instrument(spawned)
            try:
                response = await app.post(
                    f"/in/{TOKEN}", content=json.dumps(envelope).encode(), headers=headers_for(envelope)
                )
            finally:
                trio.lowlevel.remove_instrument(spawned)
            assert response.status_code == 200, response.text
    assert [name for name in spawned.names if name.endswith("guarded")] == []
