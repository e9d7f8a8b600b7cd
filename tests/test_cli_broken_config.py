"""Read and act commands need only [store] (and the users): a file half-edited elsewhere costs
a one-line warning, not the CLI. ``run`` and ``check-config`` still refuse it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from alertd.alerts import open_alert
from alertd.mapping import MAPPED_OPEN, Decision
from alertd.store import connect
from alertd.store.schema import migrate
from helpers import run_cli, run_cli_in_process, write_config

PEOPLE = """
[users.alice]
contact = { email = "alice@example.com" }
[schedules.primary]
[[schedules.primary.layers]]
users = ["alice"]
"""

# A half-edited escalation policy and rule: valid TOML, invalid config.
HALF_EDITED = """
[integrations.aws]
type = "aws_sns"
escalation_policy = "ops"
ruleset = "cloudwatch_alarm"
rules = { open_when = { field = "Message.NewStateValue", equals = "ALARM" } }
[escalation_policies.ops]
[[escalation_policies.ops.levels]]
users = ["alice", "bo"]
delay_minutes = "ten"
"""


def seed_alert(db_path: Path) -> int:
    db = connect(db_path)
    migrate(db)
    with db.atomic():
        decision = Decision(action="open", outcome=MAPPED_OPEN, source_id="disk-1", title="Disk full")
        alert_id, _ = open_alert(db, "aws", None, decision, None, time.time())
    db.conn.close()
    return alert_id


def only_warning(stderr: str, config: Path) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    # 2 of the 3 problems: read and act commands load no plugin, so the rules (which only the
    # aws_sns plugin can check) are left to check-config and run, which refuse them.
    assert lines[0].startswith(f"warning: {config} has 2 problem(s) (first: "), stderr
    assert "using [store] and the valid parts" in lines[0]


def test_read_and_act_commands_work_with_a_warning(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE + HALF_EDITED)
    alert_id = seed_alert(tmp_path / "alertd.db")

    listed = run_cli_in_process("alerts", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"^#{alert_id}\s+open\s.*Disk full$", listed.stdout, re.M), listed.stdout
    only_warning(listed.stderr, config)

    shown = run_cli_in_process("alerts", "show", str(alert_id), "-c", str(config))
    assert shown.returncode == 0 and "Disk full" in shown.stdout
    only_warning(shown.stderr, config)

    acked = run_cli_in_process("ack", str(alert_id), "--user", "alice", "-c", str(config))
    assert acked.returncode == 0, acked.stderr
    assert f"#{alert_id} acknowledged by alice" in acked.stdout
    only_warning(acked.stderr, config)

    closed = run_cli_in_process("close", str(alert_id), "--user", "alice", "-c", str(config))
    assert closed.returncode == 0 and f"#{alert_id} closed by alice" in closed.stdout
    only_warning(closed.stderr, config)

    for args in (("inbound-log",), ("oncall",), ("oncall", "primary")):
        result = run_cli_in_process(*args, "-c", str(config))
        assert result.returncode == 0, (args, result.stderr)
        only_warning(result.stderr, config)
    assert "primary: alice" in run_cli_in_process("oncall", "-c", str(config)).stdout


def test_run_and_check_config_still_refuse_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE + HALF_EDITED)
    checked = run_cli_in_process("check-config", "-c", str(config))
    assert checked.returncode == 1 and "3 problem(s)" in checked.stderr
    run = run_cli("run", "-c", str(config), timeout=60)
    assert run.returncode == 2 and "event=config.invalid" in run.stderr


def test_without_a_valid_store_the_cli_refuses(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE + HALF_EDITED)
    config.write_text(config.read_text().replace("[store]\n", '[store]\nsynchronous = "OFF"\n'))
    result = run_cli_in_process("alerts", "-c", str(config))
    assert result.returncode == 2
    assert result.stderr == f"{config}: store.synchronous: expected one of 'FULL' or 'NORMAL'; found string 'OFF'\n"


def test_a_valid_file_gives_no_warning(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE)
    result = run_cli_in_process("alerts", "-c", str(config))
    assert result.returncode == 0 and result.stderr == ""
