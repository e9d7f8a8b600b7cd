"""The ``alertd`` command line (click)."""

from __future__ import annotations

import json
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import click
import pluggy

from alertd import __version__
from alertd.config import Config, ConfigError, load_config
from alertd.plugins import PluginError, describe, load_config_plugins_dir, make_manager

DEFAULT_CONFIG = "alertd.toml"


class CliContext:
    """What every command gets as ``ctx.obj``: the config path, loaded on first use."""

    def __init__(self, config_path: Path, pm: pluggy.PluginManager) -> None:
        self.config_path = config_path
        self.pm = pm
        self._plugins_dir_loaded = False

    def load_plugins_dir(self) -> None:
        if self._plugins_dir_loaded:
            return
        self._plugins_dir_loaded = True
        load_config_plugins_dir(self.pm, self.config_path)

    @cached_property
    def config(self) -> Config:
        try:
            self.load_plugins_dir()
            return load_config(self.config_path, self.pm)
        except (ConfigError, PluginError) as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(2) from None

    def open_store_db(self) -> Any:
        """A migrated sqlite-utils Database for commands that run beside (or without) the daemon."""
        from alertd.store import connect
        from alertd.store.schema import migrate

        path = self.config.db_path
        path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(path, synchronous=self.config.raw.store.synchronous)
        migrate(db)
        return db


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("ALERTD_CONFIG", DEFAULT_CONFIG),
    show_default=DEFAULT_CONFIG,
    help="Configuration file (env ALERTD_CONFIG).",
)
@click.version_option(__version__, prog_name="alertd")
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """alertd: alert management and on-call notification daemon."""
    ctx.obj = CliContext(config_path, ctx.obj)


def _config_option(fn: Any) -> Any:
    """Let ``-c`` also follow the subcommand (``alertd run -c FILE``)."""

    def callback(ctx: click.Context, _param: Any, value: Path | None) -> None:
        if value is not None:
            ctx.find_object(CliContext).config_path = value

    return click.option(
        "-c",
        "--config",
        "config_override",
        type=click.Path(path_type=Path),
        expose_value=False,
        callback=callback,
        is_eager=True,
        help="Configuration file.",
    )(fn)


@cli.command()
@_config_option
@click.pass_obj
def run(obj: CliContext) -> None:
    """Run the daemon in the foreground (systemd: Type=notify)."""
    from alertd import daemon

    try:
        obj.load_plugins_dir()
    except (ConfigError, PluginError) as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    sys.exit(daemon.run(obj.config_path, obj.pm))


@cli.command("check-config")
@_config_option
@click.pass_obj
def check_config(obj: CliContext) -> None:
    """Validate the configuration file; print OK or every problem."""
    try:
        obj.load_plugins_dir()
        config = load_config(obj.config_path, obj.pm)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {exc.path}", err=True)
        raise SystemExit(1) from None
    except PluginError as exc:
        click.echo(f"{obj.config_path}: plugins_dir: {exc}", err=True)
        raise SystemExit(1) from None
    raw = config.raw
    click.echo(
        f"OK: {config.path}: {len(raw.integrations)} integration(s), {len(raw.users)} user(s), "
        f"{len(raw.schedules)} schedule(s), {len(raw.escalation_policies)} escalation policy(ies), "
        f"{len(config.channels)} channel(s)"
    )


@cli.command("plugins")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_cmd(obj: CliContext, as_json: bool) -> None:
    """List every loaded plugin with its version and hooks."""
    try:
        if obj.config_path.exists():
            obj.load_plugins_dir()
    except (ConfigError, PluginError) as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    infos = describe(obj.pm)
    if as_json:
        echo_json([info.__dict__ for info in infos])
        return
    for info in infos:
        click.echo(f"{info.name} {info.version or '-'} [{info.source}]")
        for hook in info.hooks:
            click.echo(f"    {hook}")


def build_cli() -> tuple[click.Group, pluggy.PluginManager]:
    pm = make_manager()
    pm.hook.alertd_register_commands(cli=cli)
    return cli, pm


def main() -> None:
    group, pm = build_cli()
    group(obj=pm, prog_name="alertd")
