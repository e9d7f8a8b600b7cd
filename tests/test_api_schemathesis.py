"""schemathesis against a running daemon's /api/v1, from its own /api/v1/openapi.json: no server
error, every status code documented, every response matching its schema."""

from __future__ import annotations

import time
from pathlib import Path

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from helpers import DaemonProcess
from inbound_fixtures import post_envelope, sample_message, sns_config
from sns_signing import notification

API_TOKEN = "schemathesis-token-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
EXAMPLES = 12  # per operation: ~19 operations in a few seconds
# Half of the cases aim at things that exist, so that 200 answers are checked against their schemas too.
KNOWN = {"alert_ref": "1", "inbound_ref": "1", "name": "alarms", "window_ref": "1", "schedule": "primary"}
# People, a schedule with an override, a policy and a workflow: the read routes answer with content.
PEOPLE = """
[users.alice]
admin = true
contact = { email = "alice@example.com", sms = "+15550001234" }

[users.bob]
contact = { email = "bob@example.com" }

[schedules.primary]
[[schedules.primary.layers]]
users = ["alice", "bob"]
shift = "1d"
[[schedules.primary.overrides]]
user = "bob"
start = 2026-03-12T10:00:00
end = 2026-03-12T12:00:00

[escalation_policies.ops]
[[escalation_policies.ops.levels]]
schedules = ["primary"]

[workflows.raise-on-open]
trigger = "opened"
[[workflows.raise-on-open.actions]]
action = "set_severity"
severity = "critical"
"""


@pytest.mark.slow
def test_the_api_keeps_its_openapi_document(tmp_path: Path) -> None:
    config = sns_config(tmp_path, PEOPLE, server=f'api_tokens = ["{API_TOKEN}"]')
    with DaemonProcess(config) as daemon:
        message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
        assert post_envelope(daemon, notification(message)).status_code == 200
        window = {"integrations": ["alarms"], "reason": "upgrade", "duration_minutes": 30}
        assert requests.post(daemon.url + "/api/v1/maintenance", json=window, headers=AUTH, timeout=10).ok
        schema = schemathesis.openapi.from_url(daemon.url + "/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 26, [op.label for op in operations]
        session = requests.Session()
        started = time.monotonic()
        failures: list[str] = []
        for operation in operations:

            @given(case=operation.as_strategy(), known=st.booleans())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case, known: bool) -> None:
                if known and case.path_parameters:
                    case.path_parameters = {k: KNOWN.get(k, v) for k, v in case.path_parameters.items()}
                case.call_and_validate(base_url=daemon.url, session=session, headers=AUTH, checks=CHECKS, timeout=10)

            try:
                run()
            except Exception as exc:  # collected: every operation is tried
                failures.append(f"{operation.label}: {str(exc)[:1500]}")
        elapsed = time.monotonic() - started
    assert failures == [], "\n\n".join(failures)
    print(f"schemathesis: {len(operations)} operations, {EXAMPLES} examples each, {elapsed:.1f} s")
    assert elapsed < 60, f"schemathesis took {elapsed:.1f} s (about 6 s on an idle machine)"
