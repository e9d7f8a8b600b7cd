"""Contact kinds come from channel plugins (issue 10, item 4): a third-party ``slack`` channel in
``plugins_dir`` makes ``contact = { slack = ... }`` valid and pages with it, with no core edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from channel_fixtures import HttpPeer
from helpers import ROOT, run_cli_in_process, wait_until, write_config
from inbound_fixtures import Db, post_envelope, sample_message, sns_config
from inprocess import InProcessThread
from sns_signing import notification

pytestmark = pytest.mark.usefixtures("each_backend")  # SQLite and PostgreSQL (tests/postgres.py)

PLUGINS_DIR = ROOT / "tests" / "plugins_dir"

SAM = """
[users.sam]
contact = { slack = "@sam" }

[escalation_policies.chat]
[[escalation_policies.chat.levels]]
users = ["sam"]
"""


def with_plugins_dir(config: Path) -> Path:
    # A top-level key must come before the first table.
    config.write_text(f'plugins_dir = "{PLUGINS_DIR}"\n' + config.read_text())
    return config


def test_alarm_pages_a_user_whose_only_contact_is_a_plugin_kind(tmp_path: Path) -> None:
    with HttpPeer() as slack:
        extra = SAM + f'\n[channels.slack]\nwebhook_url = "{slack.url}/hook"\n'
        config = with_plugins_dir(sns_config(tmp_path, extra, alarms='escalation_policy = "chat"'))
        with InProcessThread(config) as daemon:
            message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
            assert post_envelope(daemon, notification(message)).status_code == 200
            alert_id = Db(tmp_path / "alertd.db").alerts()[-1]["id"]
            request = wait_until(lambda: slack.requests and slack.requests[0], what="a POST to the slack webhook")
            assert request.path == "/hook"
            body = request.json()
            assert body["channel"] == "@sam" and body["alert_id"] == alert_id
            assert body["text"].startswith(f"[CRITICAL] #{alert_id} ConsoleSignInFailures")
            sent = wait_until(
                lambda: Db(tmp_path / "alertd.db").rows(
                    "SELECT kind, status FROM outbox WHERE alert_id = ? AND status = 'sent'", (alert_id,)
                ),
                what="the outbox row marked sent",
            )
            assert sent == [{"kind": "slack", "status": "sent"}]


def test_unknown_kind_names_the_kinds_loaded_channels_declare(tmp_path: Path) -> None:
    config = write_config(tmp_path, SAM)
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    # Without the plugin nobody declares slack; the message lists what the loaded channels do declare.
    assert (
        f"{config}: users.sam.contact.slack: expected a contact kind declared by a loaded channel "
        "(email, push, sms, voice, webhook); found string 'slack'"
    ) in result.stderr
    assert "Traceback" not in result.stderr

    with_plugins_dir(config)
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 0, result.stderr
    # Declared but not configured: still the warning that names the table to add.
    assert (
        f"{config}: WARNING users.sam: no channel serves any of its contact kinds (slack) "
        "(configure [channels.slack]): pages to this user reach nobody"
    ) in result.stderr


def test_bad_kind_in_notify_is_a_key_path_error(tmp_path: Path) -> None:
    config = with_plugins_dir(
        write_config(tmp_path, '[users.sam]\ncontact = { slack = "@sam" }\nnotify = [{ method = "Slack Now" }]\n')
    )
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 1
    assert f"{config}: users.sam.notify[0].method: expected a string matching ^[a-z][a-z0-9_-]*$" in result.stderr
    long_kind = "k" * 33
    config.write_text(config.read_text().replace("slack = ", f"{long_kind} = ").replace("Slack Now", long_kind))
    result = run_cli_in_process("check-config", "-c", str(config))
    assert f"users.sam.contact.{long_kind}: expected a string of at most 32 character(s); found string" in result.stderr


def test_a_channel_declaring_a_kind_no_user_could_name_stops_the_start(tmp_path: Path) -> None:
    pdir = tmp_path / "local_plugins"
    pdir.mkdir()
    (pdir / "shouty.py").write_text(
        "from alertd.plugin import hookimpl\n\n"
        "class Shouty:\n"
        '    name, kinds, config_model, concurrency = "shouty", ("Slack Now",), None, 1\n\n'
        "@hookimpl\n"
        "def alertd_channels():\n"
        "    return [Shouty()]\n"
    )
    config = write_config(tmp_path)
    config.write_text('plugins_dir = "local_plugins"\n' + config.read_text())
    result = run_cli_in_process("check-config", "-c", str(config))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "channel 'shouty': contact kind 'Slack Now' is not a lower-case name matching" in lines[0]
    assert str(pdir / "shouty.py") in lines[0]
