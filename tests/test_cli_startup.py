"""The CLI answers quickly because it imports only what a command needs (issue 15): a structural
bar, checked in a fresh interpreter, not a timing (bench/cli.py prints the timings).

- ``--version`` and ``--help``: click and nothing heavy (no pydantic, jinja2, pluggy, trio, quart);
- read and act commands (``alerts``, ``ack``, ``close``, ``inbound-log``, ``oncall``): only the
  tables they use are validated ([store], [users]; [server], [schedules] for oncall), not the whole
  config model; no plugin entry point is scanned or loaded, and no server, HTTP client or SMS
  library is imported; they import neither pydantic nor sqlite-utils (config.quick_tables; a plain
  sqlite3 connection) unless a value needs the models' verdict;
- a command that uses plugins (``plugins``) does scan the entry points: the probe sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alertd.alerts import list_alerts, open_alert
from alertd.mapping import MAPPED_OPEN, Decision
from alertd.store import connect
from alertd.store.schema import migrate
from helpers import run_cli, write_config

# What a read or act command must not import (the daemon's server, its HTTP client, SMS, the
# built-in plugins) and what --version/--help must not import on top of that.
SERVER_SIDE = ("quart", "quart_trio", "hypercorn", "trio", "httpx", "twilio", "cryptography", "icalendar")
PLUGIN_MODULES = ("alertd_aws_sns", "alertd_smtp", "alertd_twilio", "alertd_webhook", "alertd_ntfy", "alertd.plugin")
VALIDATION = ("pydantic", "jinja2", "pluggy", "sqlite_utils", "regex", "alertd.config", "alertd.mapping")

# Runs ``alertd ARGS`` in this interpreter; reports the modules loaded and who scanned the
# installed distributions' entry points (pluggy: the plugins; pydantic: its own plugins).
PROBE = """
import importlib.metadata, json, sys
scans = []
_distributions = importlib.metadata.distributions
def distributions(*args, **kwargs):
    scans.append(sys._getframe(1).f_globals.get("__name__", "?"))
    return _distributions(*args, **kwargs)
importlib.metadata.distributions = distributions
from alertd.cli import main
sys.argv = ["alertd", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
models = sys.modules.get("alertd.config.models")
built = sorted(n for n, m in vars(models).items() if getattr(m, "__pydantic_complete__", False)) if models else []
report = {"modules": sorted(sys.modules), "scans": scans, "built": built}
print("\\nPROBE " + json.dumps(report), file=sys.stderr)
sys.exit(code)
"""

PEOPLE = """
[integrations.aws]
type = "aws_sns"
[integrations.aws.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:alarms"]

[users.alice]
contact = { email = "alice@example.com", sms = "+15550100" }

[schedules.primary]
timezone = "Europe/Berlin"
[[schedules.primary.layers]]
users = ["alice"]
shift = "1w"

[channels.smtp]
host = "127.0.0.1"
from_address = "alertd <alertd@example.com>"
"""


def probe(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str], list[str]]:
    """``alertd ARGS`` in a fresh interpreter: the result, the modules loaded, the entry-point scans."""
    result, modules, scans, _ = probe_models(*args)
    return result, modules, scans


def probe_models(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str], list[str], set[str]]:
    """``probe`` and the config models (alertd.config.models) built (validated with) in the run."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    head, _, report = result.stderr.rpartition("\nPROBE ")
    assert report, result.stderr
    data = json.loads(report)
    result.stderr = head.lstrip("\n")
    return result, set(data["modules"]), data["scans"], set(data["built"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def seed(db_path: Path, title: str) -> int:
    db = connect(db_path)
    migrate(db)
    with db.atomic():
        decision = Decision(action="open", outcome=MAPPED_OPEN, source_id=title, title=title)
        alert_id, _ = open_alert(db, "aws", None, decision, None, time.time())
    db.conn.close()
    return alert_id


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("alerts", "--help")])
def test_version_and_help_import_only_click(args: tuple[str, ...]) -> None:
    result, modules, scans = probe(*args)
    assert result.returncode == 0, result.stderr
    assert loaded(modules, SERVER_SIDE + PLUGIN_MODULES + VALIDATION) == []
    assert scans == []
    if args == ("--version",):
        assert "alertd, version" in result.stdout
    if args == ("--help",):
        # The commands kept in modules of their own are listed, without importing what they run.
        assert all(name in result.stdout for name in ("alerts", "ack", "oncall", "replay", "snooze", "users"))


def test_read_and_act_commands_load_no_plugin_and_no_server(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed(tmp_path / "alertd.db", "Disk full")
    c = ("-c", str(config))
    for args, expect in (
        (("alerts", *c), "Disk full"),
        (("alerts", "show", str(alert_id), *c), "Disk full"),
        (("inbound-log", *c), ""),
        (("oncall", *c), "primary: alice"),
        (("oncall", "primary", *c), "iCal feed"),
        (("ack", str(alert_id), "--user", "alice", *c), f"#{alert_id} acknowledged by alice"),
        (("close", str(alert_id), *c), f"#{alert_id} closed by cli:"),
    ):
        result, modules, scans = probe(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)
        assert expect in result.stdout, (args, result.stdout)
        assert loaded(modules, SERVER_SIDE + PLUGIN_MODULES) == [], args
        assert scans == [], (args, scans)  # neither pluggy's (plugins) nor pydantic's (its plugins)
        # The tables the command uses are validated, the rule compiler only when there are rules.
        assert "jinja2" not in modules, args
        # [store], [users] (and [server], [schedules]: oncall) plainly valid: no pydantic, no
        # sqlite-utils (a plain sqlite3 connection); oncall computes without icalendar or APScheduler.
        assert loaded(modules, ("pydantic", "sqlite_utils", "alertd.config.models", "apscheduler")) == [], args


def test_listings_and_ack_import_neither_pydantic_nor_sqlite_utils(tmp_path: Path) -> None:
    # Issue 15, 0.2 s: importing pydantic and the models took longer than the rest of `alertd alerts`.
    # [store] and [users] plainly valid are checked without it (config.quick_tables); a value only
    # the models can judge brings them in, and their verdict (here: a number given as a string).
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed(tmp_path / "alertd.db", "Disk full")
    c = ("-c", str(config))
    for args in (("alerts", *c), ("alerts", "show", str(alert_id), *c), ("inbound-log", *c)):
        result, modules, _ = probe(*args)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        assert loaded(modules, ("pydantic", "sqlite_utils")) == [], args
    for action in ("ack", "close"):
        result, modules, _ = probe(action, str(alert_id), "--user", "alice", *c)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert loaded(modules, ("pydantic", "sqlite_utils")) == [], action
    config.write_text(config.read_text().replace("[store]\n", '[store]\nbusy_timeout_seconds = "5"\n'))
    result, modules, _ = probe("alerts", *c)
    assert result.returncode == 0 and "Disk full" in result.stdout, result.stderr
    assert loaded(modules, ("pydantic", "sqlite_utils")) == ["pydantic"]


# What checking the whole file takes, which read and act commands leave to check-config and run.
WHOLE_FILE_CHECKS = ("alertd.config.load", "alertd.config.checks", "alertd.config.workflow_checks")
USERS_AND_STORE = {"StoreConfig", "UserConfig", "NotifyStep"}


def test_read_and_act_commands_validate_only_the_tables_they_use(tmp_path: Path) -> None:
    # Not the whole config model: only [store] and [users] (and [server], [schedules] for oncall)
    # are validated; the whole-file checks are not even imported.
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed(tmp_path / "alertd.db", "Disk full")
    c = ("-c", str(config))
    schedules = {"ServerConfig", "ApiToken", "ScheduleConfig", "LayerConfig", "OverrideConfig", "Restriction"}
    for args, tables in (
        (("alerts", *c), USERS_AND_STORE),
        (("ack", str(alert_id), "--user", "alice", *c), USERS_AND_STORE),
        (("close", str(alert_id), *c), USERS_AND_STORE),
        (("inbound-log", *c), USERS_AND_STORE),
        (("oncall", *c), USERS_AND_STORE | schedules),
    ):
        result, modules, _, built = probe_models(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "RawConfig" not in built and "IntegrationConfig" not in built, (args, built)
        assert built <= tables, (args, built)
        assert loaded(modules, WHOLE_FILE_CHECKS) == [], args
    # The other side: check-config builds the whole model.
    result, modules, _, built = probe_models("check-config", *c)
    assert "RawConfig" in built and loaded(modules, WHOLE_FILE_CHECKS) == sorted(WHOLE_FILE_CHECKS)


def test_read_and_act_commands_still_refuse_what_they_must(tmp_path: Path) -> None:
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed(tmp_path / "alertd.db", "Disk full")
    refused, _, _ = probe("ack", str(alert_id), "--user", "mallory", "-c", str(config))
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("only users listed under [users] may act on alerts")

    config.write_text(config.read_text().replace("[store]\n", '[store]\nsynchronous = "OFF"\n'))
    broken, modules, _ = probe("alerts", "-c", str(config))
    assert broken.returncode == 2
    assert broken.stderr == f"{config}: store.synchronous: expected one of 'FULL' or 'NORMAL'; found string 'OFF'\n"
    assert loaded(modules, SERVER_SIDE + PLUGIN_MODULES) == []


def test_a_command_that_uses_plugins_loads_them(tmp_path: Path) -> None:
    # The probe's other side: it sees an entry-point scan and the plugins' modules when they happen.
    config = write_config(tmp_path, PEOPLE)
    result, modules, scans = probe("plugins", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "pluggy._manager" in scans
    assert "alertd_aws_sns" in modules and "alertd_smtp" in modules


def test_a_plugin_command_is_found_by_name() -> None:
    # `alertd twilio webhooks` is no built-in: the name loads the plugins, which register it.
    result, _, scans = probe("twilio", "--help")
    assert result.returncode == 0, result.stderr
    assert "webhooks" in result.stdout and "pluggy._manager" in scans


def test_the_alert_list_reads_only_its_page(tmp_path: Path) -> None:
    # `alertd alerts` with 100k open alerts: an indexed walk that stops at LIMIT, never a sort of the table.
    db = connect(tmp_path / "alertd.db")
    migrate(db)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    for status in (None, "open", "acknowledged"):
        statements.clear()
        list_alerts(db, status, 50)
        (sql,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        plan = " | ".join(row[3] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "TEMP B-TREE" not in plan, plan
        assert "LIMIT" in sql.upper()
        if status:
            assert "INDEX alerts_status" in plan, plan


def test_every_command_module_is_listed_for_lazy_loading() -> None:
    # A command missing from LAZY_COMMANDS would be "No such command": each entry names its
    # command, and the modules' COMMANDS are all there.
    from importlib import import_module

    from alertd import cli_actions, cli_workflows
    from alertd.cli import LAZY_COMMANDS

    resolved = []
    for name, target in LAZY_COMMANDS.items():
        module, _, attribute = target.partition(":")
        command = getattr(import_module(module), attribute)
        assert command.name == name
        resolved.append(command)
    for command in (*cli_actions.COMMANDS, *cli_workflows.COMMANDS):
        assert command in resolved, command.name


def test_the_daemon_starts_without_httpx_or_apscheduler() -> None:
    # Start-up is mostly imports (issue 15): the daemon with every built-in plugin loaded imports
    # httpx (and the rich console its package pulls in) at the first outbound call or certificate
    # fetch, and APScheduler when the housekeeping loop first schedules a chore, not before ready.
    code = (
        "import sys, alertd.daemon, alertd.engine, alertd.http.app\n"
        "from alertd.plugins import make_manager\n"
        "make_manager()\n"
        "print(sorted(m for m in ('httpx', 'apscheduler', 'rich') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_oncall_imports_pydantic_only_for_a_value_the_models_judge(tmp_path: Path) -> None:
    # Issue 15, `alertd oncall` under 0.2 s: [server] and [schedules] plainly valid are checked
    # without pydantic (config.quick_tables) and the token writes go through plain sqlite3; a value
    # only the models can judge (a handoff time given as a string) brings them in, same answer.
    config = write_config(tmp_path, PEOPLE)
    seed(tmp_path / "alertd.db", "Disk full")  # a database of the current schema (else: migrated)
    c = ("-c", str(config))
    for args in (("oncall", *c), ("oncall", "primary", "--json", *c)):
        result, modules, _ = probe(*args)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        assert loaded(modules, ("pydantic", "sqlite_utils", "alertd.config.models", "icalendar")) == [], args
    plain = probe("oncall", "primary", "--at", "2026-12-01T12:00", *c)[0].stdout
    config.write_text(config.read_text().replace('shift = "1w"\n', 'shift = "1w"\nhandoff = "09:00"\n'))
    result, modules, _, built = probe_models("oncall", "primary", "--at", "2026-12-01T12:00", *c)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout == plain and "primary: alice" in plain
    assert "alertd.config.models" in modules and "RawConfig" not in built


def test_a_command_imports_its_own_module_and_a_repeat_parses_no_toml(tmp_path: Path) -> None:
    """Each incident command imports its own module (cli_alerts, cli_inbound, cli_oncall), not the
    other commands' nor what only the ingest path or delivery builds; from the second call on the
    same bytes, the config's checked tables come from the kept entry (config.quick_cache): no
    TOML parser is imported, and no pickle.py or hashlib (their C parts only)."""
    config = write_config(tmp_path, PEOPLE)
    alert_id = seed(tmp_path / "alertd.db", "Disk full")
    c = ("-c", str(config))
    commands = ("alertd.cli_alerts", "alertd.cli_inbound", "alertd.cli_oncall", "alertd.cli_heartbeats")
    others = ("alertd.cli_maintenance", "alertd.cli_actions", "alertd.cli_workflows", "alertd.cli_users")
    ingest = (
        "alertd.decisions",
        "alertd.maintenance_windows",
        "alertd.routing",
        "alertd.channels",
        "alertd.handshakes",
    )
    # (difflib is click's: `-c` is tried as a long option first, and the miss suggests names)
    unneeded = ("alertd.config.problems", "rtoml", "tomllib", "pickle", "hashlib", "getpass")
    probe("alerts", *c)  # the first calls on the file keep its tables: [store] and [users] ...
    probe("oncall", *c)  # ... and with [server] and [schedules]
    for args, own in (
        (("alerts", *c), "alertd.cli_alerts"),
        (("alerts", "show", str(alert_id), *c), "alertd.cli_alerts"),
        (("inbound-log", *c), "alertd.cli_inbound"),
        (("oncall", "primary", *c), "alertd.cli_oncall"),
        (("ack", str(alert_id), "--user", "alice", *c), "alertd.cli_alerts"),
        (("close", str(alert_id), "--user", "alice", *c), "alertd.cli_alerts"),
    ):
        result, modules, _ = probe(*args)
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        assert loaded(modules, commands) == [own], args
        assert loaded(modules, others + ingest) == [], args
        assert loaded(modules, unneeded) == [], args


@pytest.mark.parametrize(
    ("typo", "meant"), [("alert", "alerts"), ("maintenanc", "maintenance"), ("inbound-logs", "inbound-log")]
)
def test_an_unknown_command_suggests_the_lazily_loaded_ones(typo: str, meant: str) -> None:
    # click suggests from the commands already added; those imported on use are suggested too.
    result = run_cli(typo)
    assert result.returncode == 2
    assert f"Did you mean '{meant}'?" in result.stderr, result.stderr
