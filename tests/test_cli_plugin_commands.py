"""Plugins' commands are registered only when a command name no built-in has is asked for:
``run`` and the other built-ins load the plugins without building their click groups."""

from __future__ import annotations

import click

import alertd.cli as cli_module
from alertd.cli import cli, plugin_manager


def test_plugin_commands_are_registered_only_for_an_unknown_name() -> None:
    cli_module._manager, cli_module._plugin_commands = None, False
    for name in ("twilio", "sns"):
        cli.commands.pop(name, None)  # left by an earlier test's call in this process
    pm = plugin_manager()
    assert pm.has_plugin("twilio") and "twilio" not in cli.commands
    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, "twilio")
    assert command is not None and "webhooks" in command.commands  # type: ignore[attr-defined]
    assert plugin_manager() is pm  # the same plugins, loaded once
