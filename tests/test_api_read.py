"""The read-only API of what the console shows: on call, schedules, escalation policies,
integrations, users, workflows (issue 12, API). In-process: these test the routes, not the process."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from inbound_fixtures import TOKEN
from inprocess import InProcess, in_process
from sns_signing import headers_for, subscription_confirmation
from web_fixtures import EXTRAS, alarm_request, rows, set_passwords, web_config

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"
API_TOKEN = "api-read-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# Bob covers two hours of Alice's Thursday (Berlin time, no offset: the schedule's zone).
OVERRIDE = """
[[schedules.primary.overrides]]
user = "bob"
start = 2026-03-12T10:00:00
end = 2026-03-12T12:00:00

[[integrations.alarms.routes]]
name = "prod"
when = { field = "Message^AlarmName", regex = "^prod-" }
escalation_policy = "ops"
"""
ROUTES = [
    "/api/v1/oncall",
    "/api/v1/schedules/primary",
    "/api/v1/escalation-policies",
    "/api/v1/integrations",
    "/api/v1/integrations/alarms",
    "/api/v1/users",
    "/api/v1/workflows",
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = web_config(tmp_path, EXTRAS + OVERRIDE, server=f'api_tokens = ["{API_TOKEN}"]')
    set_passwords(tmp_path / "alertd.db")  # hashes in the database: none may reach an answer
    return path


async def get(app: InProcess, path: str, status: int = 200) -> object:
    response = await app.get(path, headers=AUTH)
    assert response.status_code == status, (path, response.text)
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_who_is_on_call_now_and_at_a_given_time(config: Path) -> None:
    async with in_process(config) as app:
        now = await get(app, "/api/v1/oncall")
        assert [(s["name"], s["timezone"]) for s in now] == [("primary", "Europe/Berlin")]
        assert now[0]["user"] in ("alice", "bob") and now[0]["source"] == "layer 0"
        assert now[0]["starts_at_epoch"] <= app.clock.now() < now[0]["ends_at_epoch"]
        # Tuesday 10 March: day 64 of the daily rotation that started on Monday 5 January, Alice's.
        (tuesday,) = await get(app, "/api/v1/oncall?at=2026-03-10T12:00:00Z")
        assert (tuesday["user"], tuesday["source"]) == ("alice", "layer 0")
        assert (tuesday["starts_at"], tuesday["ends_at"]) == (
            "2026-03-10T08:00:00.000+00:00",
            "2026-03-11T08:00:00.000+00:00",
        )
        # The override: Bob, from 10:00 to 12:00 Berlin (09:00-11:00 UTC); the same as a unix time.
        (covered,) = await get(app, "/api/v1/oncall?at=2026-03-12T10:30:00%2B01:00")
        assert (covered["user"], covered["source"]) == ("bob", "override 0")
        assert (covered["starts_at_epoch"], covered["ends_at_epoch"]) == (1773306000.0, 1773313200.0)
        assert await get(app, "/api/v1/oncall?at=1773307800") == [covered]


async def test_a_schedule_names_its_layers_and_overrides_and_lists_the_next_weeks(config: Path) -> None:
    async with in_process(config) as app:
        plan = await get(app, "/api/v1/schedules/primary?weeks=1")
        assert (plan["name"], plan["timezone"], plan["weeks"]) == ("primary", "Europe/Berlin", 1)
        assert plan["layers"] == [
            {
                "source": "layer 0",
                "name": None,
                "users": ["alice", "bob"],
                "shift": "1d",
                "handoff": "09:00",
                "restrictions": [],
            }
        ]
        assert plan["overrides"][0]["source"] == "override 0" and plan["overrides"][0]["user"] == "bob"
        assert plan["overrides"][0]["starts_at"] == "2026-03-12T09:00:00.000+00:00"
        shifts = plan["shifts"]
        # Daily shifts over the next 7 days: 8 pieces (the one in progress, cut at now); alternating users.
        assert 7 <= len(shifts) <= 8, shifts
        assert all(a["ends_at_epoch"] == b["starts_at_epoch"] for a, b in itertools.pairwise(shifts))
        assert all(a["user"] != b["user"] for a, b in itertools.pairwise(shifts))
        now = app.clock.now()
        assert shifts[0]["starts_at_epoch"] <= now + 1 and shifts[-1]["ends_at_epoch"] >= now + 7 * 86400 - 1
        default = await get(app, "/api/v1/schedules/primary")
        assert default["weeks"] == 2 and len(default["shifts"]) >= 14


async def test_escalation_policies_show_levels_targets_and_delays(config: Path) -> None:
    async with in_process(config) as app:
        (ops,) = await get(app, "/api/v1/escalation-policies")
    assert ops["name"] == "ops" and ops["repeat"] == 0
    assert [(lv["level"], lv["schedules"], lv["users"], lv["delay_minutes"]) for lv in ops["levels"]] == [
        (1, ["primary"], [], 2),
        (2, [], ["alice", "bob"], 10),
    ]
    assert ops["levels"][0]["words"] == "on call in primary; 2 min to the next level"


async def test_integrations_show_counts_and_last_message_but_never_their_token(config: Path) -> None:
    async with in_process(config) as app:
        before = await get(app, "/api/v1/integrations/alarms")
        assert before["counts"] == {} and before["last_message_at"] is None
        body, headers = alarm_request("ApiReadAlarm")
        assert (await app.post(f"/in/{TOKEN}", content=body, headers=headers)).status_code == 200
        confirmation = subscription_confirmation(topic=TOPIC)
        response = await app.post(
            f"/in/{TOKEN}", content=json.dumps(confirmation).encode(), headers=headers_for(confirmation)
        )
        assert response.status_code == 200, response.text
        listed = await get(app, "/api/v1/integrations")
        one = await get(app, "/api/v1/integrations/alarms")
        text = (await app.get("/api/v1/integrations", headers=AUTH)).text
    assert [i["name"] for i in listed] == ["alarms", "events"]
    assert listed[0] == one
    assert (one["type"], one["escalation_policy"], one["enabled"]) == ("aws_sns", "ops", True)
    assert one["routes"] == [
        {
            "name": "prod",
            "escalation_policy": "ops",
            "when": {"field": "Message^AlarmName", "regex": "^prod-"},
            "during": None,
        }
    ]
    assert one["counts"] == {"Mapped Open": 1, "Subscription Confirmation": 1}
    (topic,) = one["handshakes"]
    assert (topic["label"], topic["state"]) == ("topic", "pending") and topic["text"].startswith(TOPIC)
    assert abs(one["last_message_at_epoch"] - app.clock.now()) < 60
    assert listed[1]["ruleset"] == "eventbridge_cloudtrail"
    # The token is the inbound URL's only secret: an API token is not an admin session.
    assert TOKEN not in text and "/in/" not in text and "token" not in text.lower()
    assert confirmation["Token"] not in text and "SubscribeURL" not in text


async def test_users_show_masked_contacts_and_never_a_password(config: Path) -> None:
    async with in_process(config) as app:
        users = await get(app, "/api/v1/users")
        text = (await app.get("/api/v1/users", headers=AUTH)).text
    alice, bob = users
    assert (alice["name"], alice["full_name"], alice["timezone"], alice["admin"]) == (
        "alice",
        "Alice Admin",
        "Europe/Berlin",
        True,
    )
    assert alice["contact"] == [{"kind": "email", "address": "a***@example.com"}]
    assert bob["contact"] == [
        {"kind": "email", "address": "b***@example.com"},
        {"kind": "sms", "address": "+1********34"},
    ]
    assert bob["admin"] is False and bob["notify"] == [
        {"method": "email", "after_minutes": 0},
        {"method": "sms", "after_minutes": 0},
    ]
    for secret in ("alice@example.com", "+15550001234", "argon2", "password"):
        assert secret not in text


async def test_workflows_show_trigger_last_run_and_counts(config: Path) -> None:
    async with in_process(config) as app:
        (idle,) = await get(app, "/api/v1/workflows")
        assert (idle["name"], idle["trigger"], idle["runs"]) == ("raise-on-open", "opened", 0)
        assert idle["last_run_at"] is None
        assert len(idle["does"]) == 1
        body, headers = alarm_request("WorkflowAlarm")
        assert (await app.post(f"/in/{TOKEN}", content=body, headers=headers)).status_code == 200

        db = app.runtime.config.db_path
        # The dispatcher runs the workflow after the commit: wait for its run row.
        await app.wait_until(lambda: rows(db, "SELECT workflow FROM workflow_runs"), what="the workflow run")
        (row,) = await get(app, "/api/v1/workflows")
    assert (row["runs"], row["matched"], row["actions_taken"]) == (1, 1, 1)
    assert abs(row["last_run_at_epoch"] - app.clock.now()) < 60


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/v1/oncall?at=yesterday", "at must be a unix time or an RFC 3339 time"),
        ("/api/v1/oncall?at=2026-03-10T12:00:00", "at must be a unix time or an RFC 3339 time"),  # no offset
        ("/api/v1/oncall?at=99999999999", "within 5 years of now"),
        ("/api/v1/oncall?at=0", "within 5 years of now"),
        ("/api/v1/oncall?at=" + "1" * 41, "at: String should have at most 40 characters"),
        ("/api/v1/oncall?when=now", "unknown key 'when' in the query"),
        ("/api/v1/schedules/primary?weeks=0", "weeks must be a whole number from 1 to 8"),
        ("/api/v1/schedules/primary?weeks=9", "weeks must be a whole number from 1 to 8"),
        ("/api/v1/schedules/primary?weeks=1.5", "weeks must be a whole number from 1 to 8"),
        ("/api/v1/schedules/primary?weeks=%202", "weeks must be a whole number from 1 to 8"),
        ("/api/v1/schedules/primary?days=7", "unknown key 'days' in the query"),
    ],
)
async def test_bad_parameters_are_refused_with_one_line(config: Path, path: str, reason: str) -> None:
    async with in_process(config) as app:
        response = await app.get(path, headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error


@pytest.mark.parametrize(
    "path", ["/api/v1/schedules/nope", "/api/v1/integrations/nope", "/api/v1/schedules/" + "x" * 300]
)
async def test_unknown_names_are_404(config: Path, path: str) -> None:
    async with in_process(config) as app:
        response = await app.get(path, headers=AUTH)
    assert response.status_code == 404, response.text
    assert response.json()["error"].startswith("no ")


async def test_every_route_needs_a_token_and_is_in_the_openapi_document(config: Path) -> None:
    async with in_process(config) as app:
        for path in ROUTES:
            response = await app.get(path)
            assert response.status_code == 401, (path, response.text)
            response = await app.get(path, headers={"Authorization": "Bearer wrong"})
            assert response.status_code == 401, (path, response.text)
        doc = (await app.get("/api/v1/openapi.json")).json()
    paths = {p.replace("{schedule}", "primary").replace("{name}", "alarms") for p in doc["paths"]}
    assert set(ROUTES) <= paths
    weeks = doc["paths"]["/api/v1/schedules/{schedule}"]["get"]["parameters"][1]
    assert weeks["name"] == "weeks" and (weeks["schema"]["minimum"], weeks["schema"]["maximum"]) == (1, 8)
