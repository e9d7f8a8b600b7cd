"""/api/v1/openapi.json: every API route described, from the models that validate the requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from alertd.http.app import build_app
from alertd.http.openapi import VARIABLE_RE, undescribed
from helpers import write_config
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "api-token-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def test_every_api_route_is_in_the_document(tmp_path: Path) -> None:
    config = write_config(tmp_path, server=f'api_tokens = ["{API_TOKEN}"]')
    async with in_process(config) as daemon:
        response = await daemon.get("/api/v1/openapi.json")  # no token needed: it holds no secrets
        assert response.status_code == 200, response.text
        doc = response.json()
        quart = build_app(daemon.runtime).quart
    validate(doc)  # a valid OpenAPI 3.1 document
    routes = {
        (VARIABLE_RE.sub(r"{\1}", rule.rule), method.lower())
        for rule in quart.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert undescribed(quart) == []
    assert routes == documented
    # The plugins' routes too (aws_sns's confirm), and the auth scheme.
    assert ("/api/v1/sns/confirm/{inbound_ref}", "post") in documented
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "one of server.api_tokens from the config",
    }
    alerts = doc["paths"]["/api/v1/alerts"]["get"]
    limit = next(p for p in alerts["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)
    assert alerts["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiError"
    }
    merge = doc["paths"]["/api/v1/alerts/{alert_ref}/merge"]["post"]
    assert merge["requestBody"]["required"] is True
    assert set(doc["components"]["schemas"]["MergeBody"]["required"]) == {"into"}


def test_a_route_without_a_description_is_found(tmp_path: Path) -> None:
    from quart import Blueprint
    from quart_trio import QuartTrio

    app = QuartTrio("x")
    bp = Blueprint("x", __name__, url_prefix="/api/v1")

    @bp.get("/forgotten/<thing>")
    async def forgotten(thing: str) -> str:
        return thing

    app.register_blueprint(bp)
    assert undescribed(app) == ["/api/v1/forgotten/<thing>"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/api/v1/alerts?limit=0", "limit must be a whole number from 1 to 1000"),
        ("/api/v1/alerts?limit=1001", "limit must be a whole number from 1 to 1000"),
        ("/api/v1/alerts?limit=ten", "limit must be a whole number from 1 to 1000"),
        ("/api/v1/alerts?status=sleeping", "status must be one of open, acknowledged, closed"),
        ("/api/v1/alerts?stauts=open", "unknown key 'stauts' in the query; expected only 'status', 'limit'"),
        ("/api/v1/inbound?since=yesterday", "since must be a unix time or an RFC 3339 time"),
        ("/api/v1/inbound?integration=" + "x" * 300, "integration: String should have at most 200 characters"),
        ("/api/v1/maintenance?all=maybe", "all must be 1 or true"),
    ],
)
async def test_bad_query_parameters_get_a_400_with_the_reason(tmp_path: Path, url: str, reason: str) -> None:
    config = write_config(tmp_path, server=f'api_tokens = ["{API_TOKEN}"]')
    async with in_process(config) as daemon:
        response = await daemon.get(url, headers=AUTH)
        assert response.status_code == 400, response.text
        assert reason in response.json()["error"]
        assert "\n" not in response.json()["error"]
