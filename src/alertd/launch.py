"""The ``alertd`` command's entry point: a plain ``alertd run`` starts the daemon without click.

``alertd [-c FILE] run [-c FILE]`` (``--config`` too; else ``$ALERTD_CONFIG``, else
``alertd.toml``) is what systemd runs at every start, and importing click and the CLI's
modules was a twentieth of the time to ready. ``alertd --version`` alone prints click's line
(``alertd, version X``) itself: importing click was three quarters of that command. Anything else
(another option, ``--help``, any other command) goes to ``alertd.cli``, which parses it as ever;
so does a form this module does not recognise (``-cFILE``). Both end in
``alertd.run_command.run_daemon``. ``pathlib`` is imported only by a ``run`` (a tenth of
``--version``; the CLI imports it anyway).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing was a fifth of `alertd --version`
if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_CONFIG = "alertd.toml"  # as alertd.cli's


def plain_run_config(argv: list[str]) -> Path | None:
    """The config path of a plain ``run`` command line, or None for anything else."""
    path: str | None = None
    seen_run = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "run" and not seen_run:
            seen_run = True
        elif arg in ("-c", "--config") and i + 1 < len(argv) and argv[i + 1] and not argv[i + 1].startswith("-"):
            path = argv[i + 1]
            i += 1
        elif arg.startswith("--config=") and len(arg) > len("--config="):
            path = arg.partition("=")[2]
        else:
            return None
        i += 1
    if not seen_run:
        return None
    from pathlib import Path

    return Path(path if path is not None else os.environ.get("ALERTD_CONFIG", DEFAULT_CONFIG))


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # as click.version_option's message
        from alertd import __version__

        sys.stdout.write(f"alertd, version {__version__}\n")
        return
    config = plain_run_config(sys.argv[1:])
    if config is None:
        from alertd.cli import main as cli_main

        cli_main()
        return
    # As alertd.cli.main: alertd uses no pydantic plugin (skip pydantic's scan for them).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from alertd.run_command import run_daemon

    try:
        run_daemon(config)
    except KeyboardInterrupt:  # Ctrl-C before the daemon handles SIGINT: as click's (alertd.cli.main)
        sys.stderr.write("\nAborted.\n")
        raise SystemExit(1) from None
