"""``alertd simulate`` and ``POST /api/v1/integrations/NAME/simulate``: a sample through the live
pipeline (inbound log marked simulated, mapper, alert, escalation, a real SMTP peer), no signature."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import trio
from aiosmtpd.controller import Controller

from helpers import SAMPLES, DaemonProcess, free_port, run_cli_in_process
from inbound_fixtures import Db, sns_config
from inprocess import in_process
from test_end_to_end import Mailbox

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

API_TOKEN = "simulate-test-api-token-0123456789abcdef"
ALARM = SAMPLES / "sns-cloudwatch-alarm-ALARM.json"
OK = SAMPLES / "sns-cloudwatch-alarm-OK.json"


@pytest.fixture
def mailbox():
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    box.port = smtp.port  # type: ignore[attr-defined]
    yield box
    smtp.stop()


def make_config(tmp_path: Path, smtp_port: int) -> Path:
    extra = f"""
[channels.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "alertd <alertd@example.com>"

[users.alice]
contact = {{ email = "alice@example.com" }}

[escalation_policies.security]
[[escalation_policies.security.levels]]
users = ["alice"]
delay_minutes = 30
"""
    config = sns_config(tmp_path, extra, server=f'api_tokens = ["{API_TOKEN}"]')
    head = '[integrations.alarms]\ntype = "aws_sns"'
    text = config.read_text().replace(head, head + '\nescalation_policy = "security"')
    config.write_text(text)
    return config


def simulate(config: Path, *args: str, cli: Callable[..., CompletedProcess[str]] = run_cli_in_process) -> dict:
    result = cli("simulate", *args, "--json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_simulate_through_the_running_daemon_pages_someone(tmp_path: Path, mailbox: Mailbox) -> None:
    config = make_config(tmp_path, mailbox.port)  # type: ignore[attr-defined]
    db = Db(tmp_path / "alertd.db")
    with DaemonProcess(config):
        # The sample carries a placeholder signature: a real delivery of it would be refused.
        first = simulate(config, "alarms", str(ALARM))
        assert (first["via"], first["outcome"], first["simulated"]) == ("daemon", "Mapped Open", True)
        alert_id = first["alert_id"]
        row = db.rows("SELECT * FROM inbound_log WHERE id = ?", (first["inbound_id"],))[0]
        assert (row["simulated"], row["outcome"], row["alert_id"], row["remote_addr"]) == (
            1,
            "Mapped Open",
            alert_id,
            "simulate",
        )
        assert db.rows("SELECT status FROM alerts WHERE id = ?", (alert_id,))[0]["status"] == "open"
        mail = mailbox.wait_for(lambda m: m["To"] == "alice@example.com")
        assert f"#{alert_id}" in mail["Subject"] and "ConsoleSignInFailures" in mail["Subject"]
        # The same sample again is a repeat of the alarm, not a duplicate delivery.
        again = simulate(config, "alarms", str(ALARM))
        assert (again["outcome"], again["alert_id"]) == ("Mapped Appended", alert_id)
        closed = simulate(config, "alarms", str(OK))
        assert (closed["outcome"], closed["alert_id"]) == ("Mapped Closed", alert_id)
        listing = run_cli_in_process("inbound-log", "-c", str(config))
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.count("(simulated)") == 3
        show = run_cli_in_process("inbound-log", "show", str(first["inbound_id"]), "-c", str(config))
        assert "simulated: 1" in show.stdout


async def test_simulate_api_checks_token_integration_and_body(tmp_path: Path, mailbox: Mailbox) -> None:
    config = make_config(tmp_path, mailbox.port)  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with in_process(config) as daemon:  # the API, not the process: in-process
        sample = ALARM.read_bytes()
        assert (await daemon.post("/api/v1/integrations/alarms/simulate", content=sample)).status_code == 401
        wrong = {"Authorization": "Bearer " + "x" * 40}
        assert (
            await daemon.post("/api/v1/integrations/alarms/simulate", content=sample, headers=wrong)
        ).status_code == 401
        missing = await daemon.post("/api/v1/integrations/nope/simulate", content=sample, headers=auth)
        assert missing.status_code == 404 and "no integration named 'nope'" in missing.json()["error"]
        bad = await daemon.post("/api/v1/integrations/alarms/simulate", content=b"not json", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"] == "sample refused: body is not JSON"
        big = await daemon.post("/api/v1/integrations/alarms/simulate", content=b" " * (300 * 1024), headers=auth)
        assert big.status_code == 413
        ok = await daemon.post("/api/v1/integrations/alarms/simulate", content=sample, headers=auth)
        assert ok.status_code == 200 and ok.json()["outcome"] == "Mapped Open"
        # Nothing was recorded for the refused ones.
        rows = Db(tmp_path / "alertd.db").inbound()
        assert [(r["outcome"], r["simulated"]) for r in rows] == [("Mapped Open", 1)]


def test_simulate_without_a_daemon_writes_and_the_daemon_pages_on_start(tmp_path: Path, mailbox: Mailbox) -> None:
    # A sync test: the CLI runs trio itself (in this process, through cli.main), and so does the
    # in-process daemon below.
    config = make_config(tmp_path, mailbox.port)  # type: ignore[attr-defined]
    result = simulate(config, "alarms", str(ALARM))
    assert (result["via"], result["outcome"]) == ("database", "Mapped Open")
    assert Db(tmp_path / "alertd.db").inbound()[0]["simulated"] == 1
    unknown = run_cli_in_process("simulate", "nope", str(ALARM), "-c", str(config))
    assert unknown.returncode == 2 and unknown.stderr.startswith("Error: no integration named 'nope'")
    assert "Traceback" not in unknown.stderr
    missing = run_cli_in_process("simulate", "alarms", str(tmp_path / "missing.json"), "-c", str(config))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr

    async def the_daemon_pages_on_start() -> None:  # what the daemon does at start: in-process
        async with in_process(config) as app:
            mail = await app.off_loop(mailbox.wait_for, lambda m: m["To"] == "alice@example.com")
            assert f"#{result['alert_id']}" in mail["Subject"]

    trio.run(the_daemon_pages_on_start)

    # A disabled integration takes no simulated messages either.
    ruleset = 'ruleset = "eventbridge_cloudtrail"'
    config.write_text(config.read_text().replace(ruleset, ruleset + "\nenabled = false"))
    disabled = run_cli_in_process("simulate", "events", str(ALARM), "-c", str(config))
    assert disabled.returncode == 2 and disabled.stderr == "Error: integration 'events' is disabled (enabled = false)\n"
    assert len(Db(tmp_path / "alertd.db").inbound()) == 1
