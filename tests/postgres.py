"""A PostgreSQL server for the tests, from Debian's ``postgresql`` package.

One server per test process (per xdist worker), started on first use with ``initdb`` and
``pg_ctl`` in a temporary directory (its unix socket there too, TCP on a free port of
127.0.0.1, trust authentication), with fsync off: durability across an OS crash is not
under test. A migrated template database is made once; each test gets a fresh database
copied from it (``CREATE DATABASE ... TEMPLATE``, milliseconds). Stopped at session end.

initdb refuses to run as root, as the tests do here and in CI: the server then runs as
the ``postgres`` user the package creates (``runuser``). Debian keeps initdb and pg_ctl
in /usr/lib/postgresql/VERSION/bin, off PATH: they are looked for there too.

Fixtures: ``pg_server`` (the session's server), ``pg_url`` (a fresh migrated database's
URL), ``store_backend`` (parametrised: "sqlite" and "postgresql") with ``backend_db``
(a migrated ``Database`` of that backend); ``each_backend`` (per test) and ``module_backend``
(for a module-scoped daemon) run a test on SQLite, then on PostgreSQL, with ``in_process``,
``DaemonProcess``, ``run_cli_in_process`` and ``inbound_fixtures.Db`` following the backend
(``config_on_backend``, ``db_url``): a converted test file needs only its marker.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from externals import require_program
from helpers import free_port

PACKAGE = "postgresql"
_names = itertools.count(1)


def find_bindir() -> str:
    """The directory of initdb and pg_ctl (skips, or fails under CI, without them)."""
    candidates = ["initdb", *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.insert(0, os.path.join(bindir, "initdb"))
    initdb = os.path.realpath(require_program(candidates, PACKAGE))
    return os.path.dirname(initdb)


class PgServer:
    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="alertd-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres"
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")
        return result

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        for attempt in range(3):  # the free port may be taken between finding it and the bind
            options = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options)
                return
            except RuntimeError:
                if attempt == 2:
                    raise RuntimeError((self.dir / "log").read_text()[-2000:]) from None
                self.port = free_port()

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def fresh_database(self, template: str = "alertd_template") -> str:
        """A new database copied from ``template``; its URL."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def empty_database(self) -> str:
        return self.fresh_database("template0")

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer(find_bindir())
    try:
        server.start()
        server.admin("CREATE DATABASE alertd_template")
        from alertd.store.postgres import connect
        from alertd.store.schema import migrate

        db = connect(server.url("alertd_template"))
        migrate(db)
        db.close()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, migrated PostgreSQL database of its own."""
    return pg_server.fresh_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_db(store_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A migrated ``Database`` of the parametrised backend (closed after the test)."""
    from alertd.store import connect
    from alertd.store.schema import migrate

    if store_backend == "postgresql":
        from alertd.store import postgres

        db = postgres.connect(request.getfixturevalue("pg_url"))
    else:
        db = connect(tmp_path / "alertd.db")
        migrate(db)
    yield db
    db.conn.close()


# --- module tests on both backends ------------------------------------------------------
# A test module that writes ``from postgres import connect`` and marks itself with
# ``pytestmark = pytest.mark.usefixtures("each_backend")`` runs each test twice: its
# ``connect(path)`` opens the SQLite file, or (second run) a fresh PostgreSQL database copied
# from the migrated template, the same one for the same path within a test.
_current: dict[str, Any] = {"server": None, "urls": {}}


def connect(path: str | Path, **kwargs: Any) -> Any:
    server: PgServer | None = _current["server"]
    if server is None:
        from alertd.store import connect as sqlite_connect

        return sqlite_connect(path, **kwargs)
    from alertd.store import postgres

    urls: dict[str, str] = _current["urls"]
    if str(path) not in urls:
        urls[str(path)] = server.fresh_database()
    return postgres.connect(urls[str(path)])


def _on_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    saved = dict(_current)
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    _current.update(server=server, urls={})
    try:
        yield str(request.param)
    finally:
        _current.update(saved)


@pytest.fixture(autouse=True)
def _backend_of_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that asks for neither fixture is on SQLite, even beside a module_backend's daemon."""
    saved = dict(_current)
    if not {"each_backend", "module_backend"} & set(request.fixturenames):
        _current.update(server=None, urls={})
    yield
    _current.update(saved)


@pytest.fixture(params=["sqlite", "postgresql"])
def each_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _on_backend(request)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """``each_backend`` for a module-scoped daemon: its fixture asks for this one, and every
    test of the module runs on one backend, then on the other."""
    yield from _on_backend(request)


def db_url(path: str | Path) -> str | None:
    """Under the postgresql run of ``each_backend``: the database URL standing for the SQLite
    file ``path`` (a fresh database on first use, as ``connect``); None otherwise."""
    server: PgServer | None = _current["server"]
    if server is None:
        return None
    urls: dict[str, str] = _current["urls"]
    if str(path) not in urls:
        urls[str(path)] = server.fresh_database()
    return urls[str(path)]


def config_on_backend(config: Path) -> None:
    """``in_process``'s hook: under the postgresql run of ``each_backend``, point ``config``'s
    ``[store] path`` at the database standing for that file (once; a restart keeps it)."""
    if _current["server"] is None:
        return
    match = re.search(r'\[store\][^\[]*?path = "([^"]*)"', config.read_text())
    if match is None:
        return  # already on a URL (a second in_process on the same config)
    path = Path(match.group(1))
    on_url(config, db_url(path if path.is_absolute() else config.parent / path) or "")


class PgDb:
    """``inbound_fixtures.Db`` on a PostgreSQL database: read it beside the running daemons."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        from alertd.store import postgres

        db = postgres.connect(self.url)
        try:
            return [dict(r) for r in db.execute(sql, list(params))]
        finally:
            db.close()

    def inbound(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM inbound_log ORDER BY id")

    def alerts(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM alerts ORDER BY id")


def on_url(config: Path, url: str) -> None:
    """Point the test config at ``url`` in place of its SQLite ``path`` under ``[store]``."""
    text = config.read_text()
    new = re.sub(r'(\[store\][^\[]*?)path = "[^"]*"', lambda m: f'{m.group(1)}url = "{url}"', text, count=1)
    assert new != text, "no [store] path in the config"
    config.write_text(new)
