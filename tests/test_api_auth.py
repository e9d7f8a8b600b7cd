"""The API's bearer tokens: only the right token, only as a Bearer credential."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_config
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "api-token-0123456789abcdef0123456789abcdef"
CASES = [
    (f"Bearer {API_TOKEN}", 200),
    (f"bearer {API_TOKEN}", 200),
    (f"Basic {API_TOKEN}", 401),
    (f"Token {API_TOKEN}", 401),
    (API_TOKEN, 401),
    (f"Bearer {API_TOKEN[:-1]}", 401),
    (f"Bearer {API_TOKEN}x", 401),
    ("Bearer", 401),
    (None, 401),
]


async def test_only_a_bearer_token_that_matches_opens_the_api(tmp_path: Path) -> None:
    config = write_config(tmp_path, server=f'api_tokens = ["{API_TOKEN}"]')
    async with in_process(config) as daemon:  # the API's check, not the process: in-process
        got = [
            (
                authorization,
                (
                    await daemon.get(
                        "/api/v1/alerts", headers={} if authorization is None else {"Authorization": authorization}
                    )
                ).status_code,
            )
            for authorization, _ in CASES
        ]
    assert got == CASES
