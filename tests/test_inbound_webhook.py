"""The generic JSON webhook inbound type (``type = "webhook"``): a signing client through the
daemon's app, bad input refused with a reason and a log row, delivery ids, dry runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from alertd.config import ConfigError, load_config
from alertd.plugins import make_manager
from alertd_inbound_webhook.signing import sign
from externals import require_program
from helpers import ROOT, DaemonProcess, run_cli_in_process, write_config
from inbound_fixtures import Db
from inprocess import in_process

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

SIGNED = "webhook-signed-token-0123456789abcdef"
STAMPED = "webhook-stamped-token-0123456789abcdef"
BEARER = "webhook-bearer-token-0123456789abcdef"
OPEN = "webhook-open-token-0123456789abcdefgh"
SECRET = "hmac-secret-for-tests-0123456789abcdefghij"
BEARER_TOKEN = "bearer-for-tests-0123456789"

INTEGRATIONS = f"""
[integrations.signed]
type = "webhook"
token = "{SIGNED}"
[integrations.signed.options]
secret = "{SECRET}"

[integrations.stamped]
type = "webhook"
token = "{STAMPED}"
[integrations.stamped.options]
secret = "{SECRET}"
signature_header = "X-Hub-Signature"
timestamp_header = "X-Timestamp"
tolerance_seconds = 60

[integrations.bearer]
type = "webhook"
token = "{BEARER}"
[integrations.bearer.options]
bearer_token = "{BEARER_TOKEN}"

[integrations.plain]
type = "webhook"
token = "{OPEN}"
[integrations.plain.options]
delivery_id_header = ""
[integrations.plain.rules]
source_id = "data^0^id"
open_when = {{ field = "labels^severity", equals = "page" }}
title = "{{{{ data[0].name }}}}"
"""


def body(**kw: object) -> bytes:
    return json.dumps(kw).encode()


def signed(payload: bytes, **headers: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Signature-256": sign(SECRET.encode(), payload), **headers}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, INTEGRATIONS)


async def test_signed_webhook_opens_appends_and_closes(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    firing = body(
        id="disk-full-db1",
        status="firing",
        title="Disk full on db1",
        description="/var at 99%",
        severity="warning",
        url="https://grafana.example/d/1",
    )
    async with in_process(config) as app:
        r = await app.post(f"/in/{SIGNED}", content=firing, headers=signed(firing))
        assert (r.status_code, r.text) == (200, "OK\n")
        r = await app.post(f"/in/{SIGNED}", content=firing, headers=signed(firing))
        assert r.status_code == 200
        resolved = body(id="disk-full-db1", status="RESOLVED")
        r = await app.post(f"/in/{SIGNED}", content=resolved, headers=signed(resolved))
        assert r.status_code == 200
    outcomes = [row["outcome"] for row in db.inbound()]
    assert outcomes == ["Mapped Open", "Mapped Appended", "Mapped Closed"]
    (alert,) = db.alerts()
    assert (alert["source_id"], alert["title"], alert["severity"], alert["status"]) == (
        "disk-full-db1",
        "Disk full on db1",
        "warning",
        "closed",
    )
    assert alert["url"] == "https://grafana.example/d/1"
    assert alert["description"] == "/var at 99%"
    # The signature is a credential: only its header's name is kept.
    assert json.loads(db.inbound()[0]["headers"])["x-signature-256"] == "<not stored>"


async def test_dedup_key_and_acknowledge(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    async with in_process(config) as app:
        for payload in (
            body(dedup_key="k1", status="trigger", summary="from summary"),
            body(dedup_key="k1", status="acknowledge"),
            body(dedup_key="k1", status="ok"),
        ):
            assert (await app.post(f"/in/{SIGNED}", content=payload, headers=signed(payload))).status_code == 200
    assert [row["outcome"] for row in db.inbound()] == ["Mapped Open", "Mapped Acknowledged", "Mapped Closed"]
    assert db.alerts()[0]["title"] == "from summary"


@pytest.mark.parametrize(
    ("headers", "payload", "status", "reason"),
    [
        ({}, body(id="x"), 401, "missing X-Signature-256 header"),
        ({"X-Signature-256": "sha256=" + "0" * 64}, body(id="x"), 403, "signature does not match"),
        ({"X-Signature-256": b"sha256=zz\xe9"}, body(id="x"), 403, "signature does not match"),
        ("sign", b"not json", 400, "body is not JSON"),
        ("sign", b"[1, 2]", 400, "not an object (found list)"),
        ("sign", b"[" * 100 + b"]" * 100, 400, "body is not acceptable JSON"),
        ("sign-long-id", body(id="x"), 400, "X-Delivery-Id header is not a delivery id"),
    ],
    ids=["unsigned", "wrong", "garbage", "not-json", "array", "too-deep", "delivery-id-too-long"],
)
async def test_bad_input_is_refused_with_a_reason_and_logged(
    config: Path, headers: object, payload: bytes, status: int, reason: str
) -> None:
    db = Db(config.parent / "alertd.db")
    if headers == "sign":
        headers = signed(payload)
    elif headers == "sign-long-id":
        headers = signed(payload, **{"X-Delivery-Id": "d" * 201})
    async with in_process(config) as app:
        r = await app.post(f"/in/{SIGNED}", content=payload, headers=headers)
    assert r.status_code == status
    assert reason in r.text and r.text.count("\n") == 1
    (row,) = db.inbound()
    assert (row["outcome"], row["status"]) == ("Rejected", status)
    assert reason in row["reason"]
    assert db.alerts() == []


async def test_timestamped_signature_stops_replays(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = body(id="t1", status="firing")
    async with in_process(config) as app:
        now = str(int(app.clock.now()))
        fresh = {"X-Timestamp": now, "X-Hub-Signature": sign(SECRET.encode(), payload, now)}
        assert (await app.post(f"/in/{STAMPED}", content=payload, headers=fresh)).status_code == 200
        # The same request two minutes later: outside the 60 s tolerance.
        await app.advance(120)
        r = await app.post(f"/in/{STAMPED}", content=payload, headers=fresh)
        assert r.status_code == 403 and "X-Timestamp header is more than 60 s away from now" in r.text
        # A fresh timestamp on the captured signature does not verify (the timestamp is signed).
        later = str(int(app.clock.now()))
        r = await app.post(f"/in/{STAMPED}", content=payload, headers={**fresh, "X-Timestamp": later})
        assert r.status_code == 403 and "X-Hub-Signature signature does not match" in r.text
        # A body signature without the timestamp is not accepted either.
        r = await app.post(
            f"/in/{STAMPED}", content=payload, headers={"X-Hub-Signature": sign(SECRET.encode(), payload)}
        )
        assert r.status_code == 403 and "X-Timestamp header is missing" in r.text
        r = await app.post(
            f"/in/{STAMPED}", content=payload, headers={"X-Timestamp": "soon", "X-Hub-Signature": "sha256=00"}
        )
        assert r.status_code == 403 and "not a unix time" in r.text
    assert [row["outcome"] for row in db.inbound()] == ["Mapped Open"] + ["Rejected"] * 4


async def test_bearer_token(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = body(id="b1", status="firing")
    async with in_process(config) as app:
        r = await app.post(f"/in/{BEARER}", content=payload)
        assert r.status_code == 401 and "missing Authorization: Bearer header" in r.text
        r = await app.post(f"/in/{BEARER}", content=payload, headers={"Authorization": "Bearer " + "x" * 27})
        assert r.status_code == 403 and "bearer token does not match" in r.text
        r = await app.post(f"/in/{BEARER}", content=payload, headers={"Authorization": f"Basic {BEARER_TOKEN}"})
        assert r.status_code == 403
        r = await app.post(f"/in/{BEARER}", content=payload, headers={"Authorization": f"Bearer {BEARER_TOKEN}"})
        assert r.status_code == 200
    rows = db.inbound()
    assert [row["outcome"] for row in rows] == ["Rejected"] * 3 + ["Mapped Open"]
    assert all(BEARER_TOKEN not in row["headers"] for row in rows)


async def test_delivery_id_makes_a_redelivery_a_duplicate(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    payload = body(id="d1", status="firing")
    async with in_process(config) as app:
        for delivery in ("delivery-1", "delivery-1", "delivery-2"):
            headers = signed(payload, **{"X-Delivery-Id": delivery})
            assert (await app.post(f"/in/{SIGNED}", content=payload, headers=headers)).status_code == 200
    rows = db.inbound()
    assert [row["outcome"] for row in rows] == ["Mapped Open", "Duplicate Delivery", "Mapped Appended"]
    assert [row["source_message_id"] for row in rows] == ["delivery-1", "delivery-1", "delivery-2"]
    assert "first delivered as inbound #1" in rows[1]["reason"]


async def test_own_rules_and_field_paths_without_credentials(config: Path) -> None:
    db = Db(config.parent / "alertd.db")
    async with in_process(config) as app:
        payload = body(labels={"severity": "page"}, data=[{"id": "job-7", "name": "backup failed"}])
        same_id = {"X-Delivery-Id": "1"}  # ignored: delivery_id_header = ""
        assert (await app.post(f"/in/{OPEN}", content=payload, headers=same_id)).status_code == 200
        payload = body(labels={"severity": "info"}, data=[{"id": "job-8", "name": "backup slow"}])
        assert (await app.post(f"/in/{OPEN}", content=payload, headers=same_id)).status_code == 200
    assert [row["outcome"] for row in db.inbound()] == ["Mapped Open", "Unmapped"]
    assert [(a["source_id"], a["title"]) for a in db.alerts()] == [("job-7", "backup failed")]


def test_dry_run_through_the_cli(config: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"id": "cpu", "status": "firing", "title": "CPU hot", "severity": "warning"}))
    out = run_cli_in_process("-c", str(config), "test-integration", "signed", str(sample), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["outcome"], result["source_id"], result["title"], result["severity"]) == (
        "Mapped Open",
        "cpu",
        "CPU hot",
        "warning",
    )
    sample.write_text(json.dumps({"id": "cpu", "status": "resolved"}))
    out = run_cli_in_process("-c", str(config), "test-integration", "signed", str(sample), "--assume", "open")
    assert "outcome:     Mapped Closed" in out.stdout


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("tolerance_seconds = 0", "integrations.w.options.tolerance_seconds: expected"),
        ('secret = "short"', "integrations.w.options.secret: expected a secret of at least 32 characters"),
        ('bearer_token = "short"', "expected a bearer token of 16 to 256 characters"),
        ('signature_header = "X Sig: 1"', "integrations.w.options.signature_header"),
        ('timestamp_header = "X-Timestamp"', "expected secret to be set with timestamp_header"),
        ('secrett = "x"', "integrations.w.options.secrett"),
        ('delivery_id_header = "X Id"', "integrations.w.options.delivery_id_header"),
    ],
)
def test_bad_options_name_the_key(tmp_path: Path, options: str, expected: str) -> None:
    path = write_config(tmp_path, f'[integrations.w]\ntype = "webhook"\n[integrations.w.options]\n{options}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, make_manager())
    assert expected in str(info.value)
    assert "short" not in str(info.value).replace("found a secret", "")


def test_signature_helper_agrees_with_a_known_vector() -> None:
    # GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_the_readme_curl_example_signs_and_sends(tmp_path: Path) -> None:
    """The README's shell example, as written, against the daemon: openssl signs, curl posts."""
    for program in ("curl", "openssl"):
        require_program([program], program)
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- webhook-curl-example", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    config = write_config(tmp_path, INTEGRATIONS)
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config) as daemon:
        script = block.replace("http://127.0.0.1:8080", daemon.url)
        out = subprocess.run(
            ["bash", "-euc", script],
            env={**os.environ, "TOKEN": SIGNED, "SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "OK\nOK\n"
    assert [row["outcome"] for row in db.inbound()] == ["Mapped Open", "Mapped Closed"]
    assert db.alerts()[0]["title"] == "Nightly backup of db1 failed"
