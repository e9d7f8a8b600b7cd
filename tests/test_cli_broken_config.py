"""Read and act commands check only the tables they use ([store], [users]; [server] and [schedules]
for oncall): a file half-edited elsewhere does not lock the operator out of the CLI, and costs no
time. ``run`` and ``check-config`` still refuse it; an error in a table the command uses is refused."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

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


# Valid TOML, an invalid workflow: a table no read or act command uses.
BAD_WORKFLOW = """
[workflows.page_db]
trigger = "alert.opened"
actions = [{ type = "no-such-action" }]
"""


def test_read_and_act_commands_ignore_tables_they_do_not_use(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE + HALF_EDITED + BAD_WORKFLOW)
    alert_id = seed_alert(tmp_path / "alertd.db")

    listed = run_cli_in_process("alerts", "-c", str(config))
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert re.search(rf"^#{alert_id}\s+open\s.*Disk full$", listed.stdout, re.M), listed.stdout

    shown = run_cli_in_process("alerts", "show", str(alert_id), "-c", str(config))
    assert shown.returncode == 0 and "Disk full" in shown.stdout and shown.stderr == ""

    acked = run_cli_in_process("ack", str(alert_id), "--user", "alice", "-c", str(config))
    assert acked.returncode == 0 and acked.stderr == "", acked.stderr
    assert f"#{alert_id} acknowledged by alice" in acked.stdout

    closed = run_cli_in_process("close", str(alert_id), "--user", "alice", "-c", str(config))
    assert closed.returncode == 0 and f"#{alert_id} closed by alice" in closed.stdout and closed.stderr == ""

    for args in (("inbound-log",), ("oncall",), ("oncall", "primary")):
        result = run_cli_in_process(*args, "-c", str(config))
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
    assert "primary: alice" in run_cli_in_process("oncall", "-c", str(config)).stdout

    checked = run_cli_in_process("check-config", "-c", str(config))
    assert checked.returncode == 1 and "workflows.page_db" in checked.stderr, checked.stderr


def test_an_error_in_a_table_the_command_uses_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE + BAD_WORKFLOW)
    alert_id = seed_alert(tmp_path / "alertd.db")
    text = config.read_text()
    config.write_text(text.replace("[users.alice]\n", '[users.alice]\ntimezone = "Mars/Olympus"\n'))
    for args in (("ack", str(alert_id), "--user", "alice"), ("close", str(alert_id)), ("alerts",), ("oncall",)):
        result = run_cli_in_process(*args, "-c", str(config))
        assert result.returncode == 2, (args, result.stdout)
        assert result.stderr == (
            f"{config}: users.alice.timezone: expected an IANA time zone name such as Europe/Berlin; "
            "found string 'Mars/Olympus'\n"
        ), (args, result.stderr)
    # A table only oncall uses: oncall refuses, ack does not need it.
    config.write_text(text.replace('users = ["alice"]\n', 'users = ["alice"]\nshift = "soon"\n'))
    result = run_cli_in_process("oncall", "-c", str(config))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{config}: schedules.primary.layers[0].shift: expected a shift"), result.stderr
    assert run_cli_in_process("ack", str(alert_id), "-c", str(config)).returncode == 0


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


CONTACT = 'contact = { email = "alice@example.com" }\n'
TOO_MANY_CONTACTS = "contact = { " + ", ".join(f'k{i} = "x"' for i in range(21)) + " }\n"
TOO_MANY_STEPS = "notify = [" + ", ".join('{ method = "email" }' for _ in range(101)) + "]\n"


# Every key of [store] and [users] that read and act commands check (config.quick_tables: without
# pydantic when plainly valid; else the models decide): a bad value is refused in the words of
# check-config (file, key path, what was expected). (table line, line to add or replace, key path)
BAD_VALUES = [
    ("[store]\n", "path = 5\n", "store.path"),  # in place of the file's path
    ("[store]\n", 'synchronous = "full"\n', "store.synchronous"),
    ("[store]\n", "inbound_retention_days = 0\n", "store.inbound_retention_days"),
    ("[store]\n", "reply_receipt_retention_days = 29\n", "store.reply_receipt_retention_days"),
    ("[store]\n", "busy_timeout_seconds = 301\n", "store.busy_timeout_seconds"),
    ("[store]\n", "max_size_mb = -1\n", "store.max_size_mb"),
    ("[store]\n", "cache = true\n", "store.cache"),
    ("[users.alice]\n", "full_name = 5\n", "users.alice.full_name"),
    ("[users.alice]\n", 'admin = "maybe"\n', "users.alice.admin"),
    ("[users.alice]\n", 'timezone = "Mars/Olympus"\n', "users.alice.timezone"),
    ("[users.alice]\n", f'timezone = "{"x" * 300}"\n', "users.alice.timezone"),  # ZoneInfo: OSError
    ("[users.alice]\n", "nickname = 'al'\n", "users.alice.nickname"),
    (CONTACT, 'contact = { "E mail" = "alice@example.com" }\n', "users.alice.contact.E mail"),
    (CONTACT, f'contact = {{ email = "{"x" * 1025}" }}\n', "users.alice.contact.email"),
    (CONTACT, TOO_MANY_CONTACTS, "users.alice.contact"),
    (CONTACT, CONTACT + 'notify = [{ method = "Email" }]\n', "users.alice.notify[0].method"),
    (CONTACT, CONTACT + 'notify = [{ method = "email", after_minutes = -1 }]\n', "users.alice.notify[0].after_minutes"),
    (CONTACT, CONTACT + 'notify = [{ method = "email", later = 1 }]\n', "users.alice.notify[0].later"),
    (CONTACT, CONTACT + TOO_MANY_STEPS, "users.alice.notify"),
]


@pytest.mark.parametrize(
    ("where", "line", "key"), BAD_VALUES, ids=[case[2] + ":" + case[1][:20] for case in BAD_VALUES]
)
def test_each_key_the_commands_check_is_refused_as_check_config_words_it(
    tmp_path: Path, where: str, line: str, key: str
) -> None:
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed_alert(tmp_path / "alertd.db")
    text = config.read_text()
    assert where in text
    if key == "store.path":
        text = re.sub(r"^path = .*\n", "", text, flags=re.M)
    config.write_text(text.replace(where, line if where == CONTACT else where + line))
    checked = run_cli_in_process("check-config", "-c", str(config))
    assert checked.returncode == 1
    for args in (("alerts",), ("alerts", "show", str(alert_id)), ("inbound-log",), ("ack", str(alert_id))):
        result = run_cli_in_process(*args, "-c", str(config))
        assert result.returncode == 2, (args, result.stdout)
        (error,) = result.stderr.splitlines()
        assert error.startswith(f"{config}: {key}: "), (args, error)
        assert error in checked.stderr.splitlines(), (args, error, checked.stderr)
        assert "Traceback" not in result.stderr


def test_an_unknown_display_zone_is_one_line(tmp_path: Path) -> None:
    # A name too long for a file name made ZoneInfo raise OSError: a traceback instead of the reason.
    config = write_config(tmp_path, PEOPLE)
    result = run_cli_in_process("alerts", "--tz", "x" * 300, "-c", str(config))
    assert result.returncode == 2 and result.stderr.startswith("Error: --tz: unknown time zone 'xxx"), result.stderr


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    # Decoding the file raised UnicodeDecodeError: a traceback from every command.
    config = write_config(tmp_path, PEOPLE)
    config.write_bytes(config.read_bytes().replace(b"[users.alice]\n", b'[users.alice]\nfull_name = "\xff"\n'))
    expected = f"{config}: TOML syntax error: not UTF-8 text (byte 0xff at offset "
    for args, code in ((("alerts",), 2), (("check-config",), 1)):
        result = run_cli_in_process(*args, "-c", str(config))
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.startswith(expected) and "Traceback" not in result.stderr, (args, result.stderr)
