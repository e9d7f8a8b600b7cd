"""The ``alertd`` command line (click).

An operator types these during an incident, so a call costs only what its command needs: this
module imports click and nothing heavy at its top (``tests/test_cli_startup.py`` holds the line).
Each command imports what it uses inside its body; plugins (entry points) are loaded only by a
command that needs them (``obj.pm``, ``obj.config``) or for a command name no built-in has.

Adding a command: write it in a module of its own (``cli_<topic>.py``, importing only click and
``alertd.cli_common`` at its top) and add one line to ``LAZY_COMMANDS`` below: the module is
imported when the command is used (or ``--help`` lists it): ``alertd ack`` imports
``cli_alerts``, not the definitions of thirty other commands. Read and act commands open the
database with ``obj.open_store_db()`` (``obj.open_read_db()`` if they only read), which check only
``[store]`` and ``[users]`` (``obj.tables(...)``: the tables a command uses, validated as
``check-config`` does; the rest of the file need only be valid TOML). ``obj.core_config`` is the
file checked whole without loading plugins; ``obj.config`` is the file with its plugin tables
resolved (it loads the plugins). ``alertd check-config`` and ``alertd run`` check everything.
"""

from __future__ import annotations

import os
from functools import cached_property
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alertd import __version__
from alertd.cli_common import ROW_ID as ROW_ID  # (ROW_ID, parse_since: importable from here as before)
from alertd.cli_common import CliError, config_option, echo_json, fail, tz_option
from alertd.cli_common import cli_actor as _cli_actor
from alertd.cli_common import parse_since as parse_since
from alertd.errors import StoreUnavailable

if TYPE_CHECKING:
    import pluggy

    from alertd.config import Config

DEFAULT_CONFIG = "alertd.toml"

# Commands kept in modules of their own: name -> "module:attribute", imported on use (a command
# imports click and its own module, not every command's definitions).
LAZY_COMMANDS = {
    "alerts": "alertd.cli_alerts:alerts_cmd",
    "ack": "alertd.cli_alerts:ack_cmd",
    "close": "alertd.cli_alerts:close_cmd",
    "inbound-log": "alertd.cli_inbound:inbound_log",
    "oncall": "alertd.cli_oncall:oncall_cmd",
    "filter-pattern": "alertd.cli_filterpattern:filter_pattern",
    "replay": "alertd.cli_replay:replay_cmd",
    "users": "alertd.cli_users:users_cmd",
    "snooze": "alertd.cli_actions:snooze_cmd",
    "unack": "alertd.cli_actions:unack_cmd",
    "escalate": "alertd.cli_actions:escalate_cmd",
    "reassign": "alertd.cli_actions:reassign_cmd",
    "note": "alertd.cli_actions:note_cmd",
    "merge": "alertd.cli_actions:merge_cmd",
    "workflows": "alertd.cli_workflows:workflows_cmd",
    "test-workflow": "alertd.cli_workflows:test_workflow_cmd",
    "cluster": "alertd.cli_cluster:cluster_cmd",
    "migrate-store": "alertd.cli_migrate_store:migrate_store_cmd",
}

# Modules that add their commands with ``register(cli, **shared options)``: imported on use too.
LAZY_REGISTERS = {"heartbeats": "alertd.cli_heartbeats", "maintenance": "alertd.cli_maintenance"}

_manager: pluggy.PluginManager | None = None
_plugin_commands = False


def plugin_manager(commands: bool = False) -> pluggy.PluginManager:
    """The entry-point plugins, loaded on first use (a scan of the installed distributions and
    their imports); with ``commands``, the commands they register added to ``cli`` (only a
    command name no built-in has needs them: ``run`` does not build the plugins' click groups)."""
    global _manager, _plugin_commands
    if _manager is None:
        from alertd.plugins import make_manager

        _manager = make_manager()
    if commands and not _plugin_commands:
        _plugin_commands = True
        _manager.hook.alertd_register_commands(cli=cli)
    return _manager


class AlertdGroup(click.Group):
    """The top-level group: built-in commands without any plugin; ``LAZY_COMMANDS`` imported on
    use; a name neither knows loads the plugins (they may register it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS, *LAZY_REGISTERS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(import_module(module), attribute)
            self.add_command(command, cmd_name)
        if command is None and cmd_name in LAZY_REGISTERS:
            extra = {"cli_actor": _cli_actor} if cmd_name == "maintenance" else {}
            import_module(LAZY_REGISTERS[cmd_name]).register(
                self, config_option=config_option, tz_option=tz_option, echo_json=echo_json, **extra
            )
            command = super().get_command(ctx, cmd_name)
        if command is None and not _plugin_commands:
            plugin_manager(commands=True)
            command = super().get_command(ctx, cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:  # click suggests from the loaded commands only
            no_such = getattr(click.exceptions, "NoSuchCommand", None)  # (click >= 8.4; 8.1 suggests none)
            if no_such is None or not isinstance(exc, no_such):
                raise
            raise no_such(exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None


class CliContext:
    """What every command gets as ``ctx.obj``: the config path, checked on first use."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._plugins_dir_loaded = False
        self._warned = False
        self._subsets: dict[tuple[str, ...], Config] = {}

    @property
    def pm(self) -> pluggy.PluginManager:
        return plugin_manager()

    def load_plugins_dir(self) -> None:
        from alertd.plugins import check_plugins, load_config_plugins_dir

        if self._plugins_dir_loaded:
            return
        self._plugins_dir_loaded = True
        load_config_plugins_dir(self.pm, self.config_path)
        # Entry-point plugins and plugins_dir ones together: a misspelt hook or a name claimed twice.
        check_plugins(self.pm)

    def _check(self, with_plugins: bool) -> Config:
        """The file's valid parts. Read and act commands need only ``[store]`` (and the users), so
        a file half-edited elsewhere costs a one-line warning instead of locking the CLI out."""
        from alertd.config import ConfigError, format_problem, read_and_inspect
        from alertd.plugins import PluginError

        problems: list[str] = []
        pm = None
        if with_plugins:
            try:
                self.load_plugins_dir()
            except PluginError as exc:
                problems.append(f"plugins_dir: {exc}")
            except ConfigError as exc:
                fail(str(exc))
            pm = self.pm
        try:
            checked = read_and_inspect(self.config_path, pm)
        except ConfigError as exc:
            fail(str(exc))
        store_errors = [p for p in checked.errors if p.key == "store" or p.key.startswith("store.")]
        if store_errors or "store" in checked.left_out:
            # Without a valid [store] there is no telling which database is meant.
            fail("\n".join(format_problem(checked.config.path, p) for p in store_errors))
        problems += [f"{p.key}: {p.message}" if p.key else p.message for p in checked.errors]
        if problems and not self._warned:
            self._warned = True
            first = " ".join(problems[0].split())
            click.echo(
                f"warning: {checked.config.path} has {len(problems)} problem(s) (first: {first}); "
                "using [store] and the valid parts; `alertd check-config` lists them",
                err=True,
            )
        return checked.config

    @cached_property
    def config(self) -> Config:
        """The file checked whole with its plugin tables (inbound types, channels, rulesets):
        loads the plugins."""
        return self._check(with_plugins=True)

    @cached_property
    def core_config(self) -> Config:
        """The file checked whole (every model, reference and workflow) except the tables that
        only plugins can check (``alertd check-config`` and ``run`` check those): no plugin loaded."""
        if "config" in self.__dict__:
            return self.config
        return self._check(with_plugins=False)

    def tables(self, *more: str) -> Config:
        """``[store]``, ``[users]`` and ``more`` tables checked, nothing else (config.subset): a read
        or act command answers in a fraction of the time a whole check takes, and an error elsewhere
        in the file (left to ``check-config`` and ``run``) does not lock the operator out. The file
        checked whole instead when a command has already asked for it, or tables already checked
        that include these. ``[store]`` and ``[users]`` (config.quick_tables; with ``[server]`` and
        ``[schedules]`` for oncall: config.quick_schedules) without pydantic when plainly valid
        (``path``, ``raw``, ``db_path``, ``public_url`` of ``Config``)."""
        for whole in ("config", "core_config"):
            if whole in self.__dict__:
                return self.__dict__[whole]  # type: ignore[no-any-return]
        key = ("store", "users", *more)
        for checked, config in self._subsets.items():
            if set(key) <= set(checked):  # e.g. oncall's tables, then [store] to open the database
                return config
        try:  # no pydantic for the listings, ack, close and oncall unless a value needs its verdict
            if not more:
                from alertd.config.quick_tables import read_store_and_users

                self._subsets[key] = read_store_and_users(self.config_path)  # type: ignore[assignment]
            elif more == ("server", "schedules"):
                from alertd.config.quick_schedules import read_schedule_tables

                self._subsets[key] = read_schedule_tables(self.config_path)  # type: ignore[assignment]
            else:
                from alertd.config.subset import read_tables

                self._subsets[key] = read_tables(self.config_path, key)
        except Exception as exc:
            from alertd.config.problems import ConfigError  # here: a good file's call need not import it

            if not isinstance(exc, ConfigError):
                raise
            fail(str(exc))
        return self._subsets[key]

    def open_read_db(self) -> Any:
        """For commands that only read: a plain sqlite3 connection with the same pragmas (the
        readers use only ``execute``) when the schema is current; else ``open_store_db``'s."""
        import sqlite3

        from alertd.store import open_connection
        from alertd.store.schema import SCHEMA_VERSION, current_version

        config = self.tables()
        store = config.raw.store
        if store.url is not None:  # PostgreSQL: no plain-sqlite3 shortcut
            return self.open_store_db()
        try:
            conn = open_connection(
                config.db_path, synchronous=store.synchronous, busy_timeout=store.busy_timeout_seconds
            )
            if current_version(conn) == SCHEMA_VERSION:
                return conn
            conn.close()
        except (OSError, sqlite3.Error):
            pass  # open_store_db says what is wrong, in one line
        return self.open_store_db()

    def open_act_db(self) -> Any:
        """For ``ack`` and ``close``: ``open_read_db``'s plain connection as the two parts of a
        sqlite-utils Database the alert commands use inside ``write_transaction`` (``execute``,
        ``conn``), sparing sqlite-utils' import; ``open_store_db``'s when the schema is not current."""
        import sqlite3

        from alertd.store.plain import PlainDatabase

        db = self.open_read_db()
        return PlainDatabase(db) if isinstance(db, sqlite3.Connection) else db

    def open_store_db(self) -> Any:
        """A migrated sqlite-utils Database for commands that run beside (or without) the daemon."""
        import sqlite3

        from alertd.errors import StoreUnavailable, reason
        from alertd.store import connect_settings
        from alertd.store.schema import SchemaTooNew, migrate

        config = self.tables()
        path = config.db_path
        try:
            db = connect_settings(path, config.raw.store)
            migrate(db)
        except StoreUnavailable as exc:  # PostgreSQL unreachable: one line naming the URL, no password
            fail(str(exc))
        except (OSError, sqlite3.Error, SchemaTooNew) as exc:
            fail(f"cannot open the database {path}: {reason(exc)}")
        return db


@click.group(
    cls=AlertdGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Plugins may add commands (e.g. sns, twilio): `alertd plugins` lists the plugins installed.",
)
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
    ctx.obj = CliContext(config_path)


@cli.command()
@config_option
@click.pass_obj
def run(obj: CliContext) -> None:
    """Run the daemon in the foreground (systemd: Type=notify)."""
    from alertd.run_command import run_daemon  # (alertd.launch: a plain `alertd run` skips click)

    run_daemon(obj.config_path)


@cli.command("check-config")
@config_option
@click.pass_obj
def check_config(obj: CliContext) -> None:
    """Validate the configuration file; print every error and warning in one pass.

    Exit 1 if there is an error (``run`` and a reload would refuse the file); warnings
    (valid settings that page nobody) are printed but exit 0.
    """
    from alertd.config import ConfigError, Problem, format_problem, read_and_inspect
    from alertd.plugins import PluginError, PluginSetError
    from alertd.store.files import store_path_problem

    plugin_problem = None
    try:
        obj.load_plugins_dir()
    except ConfigError as exc:  # the file cannot even be read for its plugins_dir (TOML syntax)
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {exc.path}", err=True)
        raise SystemExit(1) from None
    except PluginSetError as exc:  # the plugins cannot run together, whatever the file says: as `run`
        fail(f"{obj.config_path}: {exc}")
    except PluginError as exc:
        plugin_problem = Problem("plugins_dir", str(exc))
    try:
        checked = read_and_inspect(obj.config_path, obj.pm)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in {exc.path}", err=True)
        raise SystemExit(1) from None
    config = checked.config
    errors = ([plugin_problem] if plugin_problem else []) + checked.errors
    # Only a valid store.path is worth trying (an invalid one already has its error).
    if config.raw.store.url is None and not any(p.key == "store" or p.key.startswith("store.") for p in checked.errors):
        problem = store_path_problem(config.db_path)
        if problem is not None:
            errors.append(Problem("store.path", problem))
    for p in errors:
        click.echo(format_problem(config.path, p), err=True)
    for p in checked.warnings:
        click.echo(format_problem(config.path, p, warning=True), err=True)
    warned = f" and {len(checked.warnings)} warning(s)" if checked.warnings else ""
    if errors:
        click.echo(f"{len(errors)} problem(s){warned} in {config.path}", err=True)
        raise SystemExit(1)
    raw = config.raw
    click.echo(
        f"OK: {config.path}: {len(raw.integrations)} integration(s), {len(raw.users)} user(s), "
        f"{len(raw.schedules)} schedule(s), {len(raw.escalation_policies)} escalation policy(ies), "
        f"{len(config.channels)} channel(s){warned.replace(' and ', ', ')}"
    )
    from alertd.cli_cluster import config_drift_warnings  # instances on this database, other configs

    for line in config_drift_warnings(config):
        click.echo(line, err=True)


@cli.command("plugins")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_cmd(obj: CliContext, as_json: bool) -> None:
    """List every loaded plugin with its version and hooks."""
    from alertd.config import ConfigError
    from alertd.plugins import PluginError, describe

    try:
        if obj.config_path.exists():
            obj.load_plugins_dir()
    except (ConfigError, PluginError) as exc:
        fail(str(exc))
    infos = describe(obj.pm)
    if as_json:
        echo_json([info.__dict__ for info in infos])
        return
    for info in infos:
        click.echo(f"{info.name} {info.version or '-'} [{info.source}]")
        for hook in info.hooks:
            click.echo(f"    {hook}")


@cli.command("integrations")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def integrations_cmd(obj: CliContext, as_json: bool) -> None:
    """Each integration's secret URL, ruleset and its source's handshake state (SNS subscriptions)."""
    from alertd.integrations import ensure_tokens
    from alertd.readmodel import integrations_overview
    from alertd.store import write_transaction

    config = obj.config
    db = obj.open_store_db()
    with write_transaction(db):
        tokens = ensure_tokens(db, config)
    out = integrations_overview(db, config, tokens)
    if as_json:
        echo_json(out)
        return
    from alertd.textout import visible

    if not out:
        click.echo("no integrations configured")
    for item in out:
        state = "" if item["enabled"] else " (disabled)"
        click.echo(f"{item['name']} [{item['type']}]{state}")
        click.echo(f"    url:        {item['url']}")
        click.echo(f"    ruleset:    {item['ruleset']}")
        click.echo(f"    escalation: {item['escalation_policy'] or '-'}")
        for shake in item["handshakes"]:
            # Keys (an SNS topic) and states come from the source: control characters escaped.
            click.echo(visible(f"    {shake['label'] + ':':<11} {shake['text']}"))


@cli.command("test-integration")
@config_option
@click.argument("name")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--assume",
    type=click.Choice(["open", "acknowledged"]),
    help="Pretend an alert for the message's source id is already open / acknowledged.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def test_integration(obj: CliContext, name: str, file: Any, assume: str | None, as_json: bool) -> None:
    """Dry run: the decision and extracted fields for a sample FILE (or a plain body; - for stdin).

    Touches no database and checks no signature: it tries the integration's rules.
    """
    from alertd.dryrun import dry_run

    integration = obj.config.integrations.get(name)
    if integration is None:
        known = ", ".join(obj.config.integrations) or "none"
        raise click.BadParameter(f"no integration named {name!r} (known: {known})", param_hint="NAME")
    result = dry_run(integration, file.read(), assume)  # type: ignore[arg-type]
    if as_json:
        echo_json(result)
        return
    click.echo(f"integration: {result['integration']} (ruleset {result['ruleset']})")
    click.echo(f"assumed:     {result['assumed_alert']}")
    for i, part in enumerate(result.get("messages") or [result]):  # a batch: each alert's decision
        if "messages" in result:
            click.echo(f"--- message {i + 1} of {len(result['messages'])}")
        _echo_decision(part)


def _echo_decision(result: dict[str, Any]) -> None:
    from alertd.textout import visible as v

    if result.get("message_type"):
        click.echo(f"message:     {v(result['message_type'])} {v(result.get('source_message_id') or '')}".rstrip())
    click.echo(f"outcome:     {result['outcome']}")
    for key in ("reason", "source_id", "title", "description", "severity", "url"):
        if result.get(key):
            click.echo(f"{key + ':':<12} {v(result[key])}")
    if result.get("tags"):
        click.echo(f"tags:        {v(', '.join(result['tags']))}")
    if "route" in result:
        owners = f"; owners {v(', '.join(result['recipients']))}" if result["recipients"] else ""
        click.echo(f"route:       {v(result['route'])} (escalation {v(result['escalation_policy'] or '-')}{owners})")
    for key, value in (result.get("fields") or {}).items():
        click.echo(f"field:       {v(key)} = {v(value)}")


# --- simulate, backup (issue 9: operators) ------------------------------------------


@cli.command("simulate")
@config_option
@click.argument("integration")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Write into the database even if the daemon is up.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def simulate_cmd(obj: CliContext, integration: str, file: Path, offline: bool, as_json: bool) -> None:
    """Send sample FILE through the live pipeline of INTEGRATION, without a signature check.

    Unlike test-integration this records the message (marked simulated), opens or
    changes the alert, escalates and notifies. Goes through the running daemon's API
    (server.api_tokens) when it answers; otherwise writes into the database directly.
    """
    from alertd.simulate import SimulationError, describe, run_from_cli, to_json

    try:
        outcome = run_from_cli(obj.config, obj.pm, integration, file, offline=offline)
    except SimulationError as exc:
        raise CliError(str(exc)) from None
    click.echo(to_json(outcome) if as_json else describe(outcome))


@cli.command("backup")
@config_option
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.pass_obj
def backup_cmd(obj: CliContext, file: Path, force: bool) -> None:
    """Copy the database to FILE, safely while the daemon runs (SQLite online backup).

    The copy is checked with PRAGMA integrity_check before it is renamed to FILE. To
    restore: stop the daemon, copy FILE to store.path (removing its -wal and -shm
    files), start the daemon.
    """
    from alertd.backup import BackupError, backup

    store = obj.core_config.raw.store
    if store.url is not None:
        raise CliError("alertd backup copies a SQLite file; on PostgreSQL (store.url) use pg_dump (e.g. pg_dump -Fc)")
    try:
        result = backup(obj.core_config.db_path, file, force=force, busy_timeout=store.busy_timeout_seconds)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    click.echo(
        f"OK: {result.path}: {result.size} bytes, schema version {result.schema_version}, "
        f"{result.alerts} alert(s), {result.inbound_messages} inbound message(s), "
        f"integrity ok, {result.seconds:.2f} s"
    )


def build_cli() -> tuple[click.Group, pluggy.PluginManager]:
    """The group with a fresh plugin manager (and the plugins' commands), as a new process has."""
    global _manager, _plugin_commands
    _manager, _plugin_commands = None, False
    return cli, plugin_manager(commands=True)


def main() -> None:
    global _manager, _plugin_commands
    _manager, _plugin_commands = None, False  # plugins load on demand, once per call (as in a new process)
    # alertd uses no pydantic plugin: skip pydantic's scan of every installed distribution for
    # them (a third of a read command's validation); an operator's own setting is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        code = cli.main(prog_name="alertd", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `alertd` or a group alone: its help
        click.echo(exc.format_message())
        raise SystemExit(0) from None
    except click.UsageError as exc:
        # One line, not click's usage block: what was wrong and where to read more.
        where = exc.ctx.command_path if exc.ctx is not None else "alertd"
        click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
        raise SystemExit(2) from None
    except click.ClickException as exc:
        exc.show()
        # A refused request is one line and exit 2, also from a plugin's command raising click's
        # default (exit 1); check-config's "the file has errors" (exit 1) is no ClickException.
        raise SystemExit(2 if exc.exit_code == 1 else exc.exit_code) from None
    except click.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(1) from None
    except StoreUnavailable as exc:  # e.g. the daemon held the write lock past the busy timeout
        click.echo(f"alertd: {exc}", err=True)
        raise SystemExit(2) from None
    except Exception as exc:
        from alertd.config.problems import ConfigError  # pydantic: imported on this path only

        if not isinstance(exc, ConfigError):
            raise
        # A file no command could read: one line per problem, never a traceback.
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)
