"""A test plugin that records every ``alertd_alert_event`` call as one JSON line.

The file is named by ALERTD_TEST_EVENT_LOG. If the file named by ALERTD_TEST_KILL_ONCE
exists, the first event removes it and SIGKILLs the daemon before recording anything:
a process that dies after the commit and before any plugin heard of the change.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from alertd import hookimpl


@hookimpl
def alertd_alert_event(event: object, runtime: object) -> None:
    kill_once = os.environ.get("ALERTD_TEST_KILL_ONCE")
    if kill_once and Path(kill_once).exists():
        Path(kill_once).unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    path = os.environ.get("ALERTD_TEST_EVENT_LOG")
    if not path:
        return
    line = json.dumps(
        {
            "id": getattr(event, "id", None),
            "kind": event.kind,  # type: ignore[attr-defined]
            "alert_id": event.alert_id,  # type: ignore[attr-defined]
            "actor": event.actor,  # type: ignore[attr-defined]
            "via": event.via,  # type: ignore[attr-defined]
            "status": event.alert.get("status"),  # type: ignore[attr-defined]
        }
    )
    with open(path, "a") as fh:
        fh.write(line + "\n")
