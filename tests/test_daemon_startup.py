"""The daemon is ready without the modules only later requests need (issue 15: start to ready).

``alertd run`` answers ``/readyz`` 200 once the store is open, the inbound path is served and the
loops run; the web stack (Quart with Flask and Werkzeug, the API's models), Prometheus' client
and hypercorn's HTTP/2 and WebSocket protocols are loaded after that (the web stack at once, in
the background; the others on first use), and every one of them still answers. Checked in a
real ``alertd run`` whose modules are recorded at the moment it tells systemd READY=1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

import alertd.http.app
from alertd.http.app import build_app
from helpers import DaemonProcess, wait_until
from inbound_fixtures import TOKEN, sample_message, sns_config
from inprocess import in_process
from sns_signing import headers_for, notification

API_TOKEN = "startup-api-token-0123456789abcdef"

# ``alertd ARGS`` in this interpreter; at READY=1 the loaded modules go to the file in argv[1].
PROBE = """
import json, os, sys
import alertd.sdnotify
_notify = alertd.sdnotify.Notifier.notify
def notify(self, *lines):
    if "READY=1" in lines:
        with open(MODULES + ".tmp", "w") as out:
            json.dump(sorted(sys.modules), out)
        os.replace(MODULES + ".tmp", MODULES)  # whole, for the test that waits for it
    return _notify(self, *lines)
alertd.sdnotify.Notifier.notify = notify
MODULES = sys.argv[1]
sys.argv = ["alertd", *sys.argv[2:]]
from alertd.cli import main
main()
"""

# Loaded after ready: the web stack, metrics, HTTP/2 and WebSockets, sqlite-utils (store.sqlite.LazyDatabase).
LATER = (
    "quart",
    "quart_trio",
    "flask",
    "werkzeug",
    "prometheus_client",
    "h2.connection",
    "h2.settings",
    "hyperframe",
    "hpack",
    "wsproto",
    "sqlite_utils",
    "alertd.engine",  # the loops: imported by their task, the first to run after ready
    "jinja2",  # only the post-ready step compiles rule templates (none here needs it before)
    "smtplib",  # the smtp channel's sending and its message's HTML: at its first send
    "alertd_smtp.transport",
    "alertd_smtp.message",
    "html",
)


class ProbedDaemon(DaemonProcess):
    def __init__(self, config: Path, modules: Path) -> None:
        super().__init__(config)
        self.modules = modules

    def command(self) -> list[str]:
        return [sys.executable, "-c", PROBE, str(self.modules), "run", "-c", str(self.config)]


def test_ready_before_the_web_stack_and_everything_answers_after(tmp_path: Path) -> None:
    config = sns_config(tmp_path, "", server=f'api_tokens = ["{API_TOKEN}"]')
    modules_file = tmp_path / "modules.json"
    with ProbedDaemon(config, modules_file) as daemon:
        wait_until(modules_file.exists, what="READY=1")
        at_ready = set(json.loads(modules_file.read_text()))
        # Ready means what it meant: the inbound path and the store are up. The loops' task is the
        # first to run after ready (it imports alertd.engine: the loops ran after ready before too).
        assert {"alertd.http.inbound_asgi", "alertd.receive", "alertd_aws_sns"} <= at_ready
        assert sorted(at_ready & set(LATER)) == []
        assert daemon.get("/readyz").text == "ready\n"

        message, _, _ = sample_message("sns-cloudwatch-alarm-ALARM.json")
        envelope = notification(message)
        body = json.dumps(envelope).encode()
        response = daemon.post(f"/in/{TOKEN}", content=body, headers=headers_for(envelope))
        assert response.status_code == 200, response.text

        # The API (Quart), the metrics and the console's routes answer as before.
        listed = daemon.get("/api/v1/alerts", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 1
        assert 'alertd_inbound_messages_total{integration="alarms",outcome="Mapped Open"} 1.0' in (
            daemon.get("/metrics").text
        )
        assert daemon.get("/api/v1/no-such-route").json()["error"].startswith("Not Found")

        # HTTP/2 (prior knowledge, h2c) loads hypercorn's HTTP/2 protocol on first use.
        with httpx.Client(http1=False, http2=True, timeout=10) as client:
            response = client.get(daemon.url + "/healthz")
        assert (response.status_code, response.http_version, response.text) == (200, "HTTP/2", "ok\n")
        assert daemon.stop() == 0


async def test_first_requests_to_quart_wait_for_one_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Health needs no Quart; API requests that come before the app is built all wait for the
    same build (in the daemon, Dispatcher.warm starts it at ready) and are answered."""
    builds = []
    real_build = alertd.http.app.build_quart

    def counted_build(runtime: object) -> object:
        builds.append(1)
        return real_build(runtime)  # type: ignore[arg-type]

    monkeypatch.setattr(alertd.http.app, "build_quart", counted_build)
    config = sns_config(tmp_path, "", server=f'api_tokens = ["{API_TOKEN}"]')
    async with in_process(config) as app:
        dispatcher = build_app(app.runtime)
        transport = httpx.ASGITransport(app=dispatcher, client=("127.0.0.1", 40001))
        async with httpx.AsyncClient(transport=transport, base_url="http://alertd.test", timeout=30) as client:
            built = len(builds)  # (the harness built its own app's, as the daemon does)
            assert (await client.get("/readyz")).text == "ready\n"
            assert (await client.get("/healthz")).text == "ok\n"
            assert len(builds) == built
            statuses: list[int] = []

            async def list_alerts() -> None:
                response = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {API_TOKEN}"})
                statuses.append(response.status_code)

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(list_alerts)
            assert statuses == [200, 200, 200]
            assert len(builds) == built + 1


async def test_a_web_build_that_fails_answers_its_requests_503_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests waiting for the build, and later ones, get 503 and the one-line reason (no hang,
    no traceback, no build again per request); health and the inbound path are unaffected."""
    builds = []
    release = trio.Event()

    def failing_build(runtime: object) -> object:
        builds.append(1)
        raise RuntimeError("no routes today")

    def slow_imports(runtime: object) -> None:
        trio.from_thread.run(release.wait)  # the requests below arrive while the build runs

    config = sns_config(tmp_path, "", server=f'api_tokens = ["{API_TOKEN}"]')
    async with in_process(config) as app:
        monkeypatch.setattr(alertd.http.app, "build_quart", failing_build)
        monkeypatch.setattr(alertd.http.app, "import_web_modules", slow_imports)
        dispatcher = build_app(app.runtime)
        transport = httpx.ASGITransport(app=dispatcher, client=("127.0.0.1", 40001))
        async with httpx.AsyncClient(transport=transport, base_url="http://alertd.test", timeout=30) as client:
            answers: list[tuple[int, str]] = []
            raised: list[str] = []

            async def warm() -> None:  # what the daemon does at ready
                try:
                    await dispatcher.warm()
                except RuntimeError as exc:
                    raised.append(str(exc))

            async def list_alerts() -> None:
                response = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {API_TOKEN}"})
                answers.append((response.status_code, response.text))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(warm)
                await trio.testing.wait_all_tasks_blocked()
                for _ in range(2):
                    nursery.start_soon(list_alerts)
                await trio.testing.wait_all_tasks_blocked()
                assert answers == []  # they wait for the build
                assert (await client.get("/healthz")).text == "ok\n"
                release.set()
            # The reason goes to the log only: an unauthenticated caller learns nothing of the code.
            reason = "web routes unavailable: building them failed (see the daemon's log)\n"
            assert answers == [(503, reason)] * 2
            assert raised == ["no routes today"]
            later = await client.get("/login")
            assert (later.status_code, later.text) == (503, reason)
            assert len(builds) == 1


BROKEN_ROUTES = """
from alertd.plugin import hookimpl

__version__ = "1.0"


@hookimpl
def alertd_register_routes(runtime):
    raise RuntimeError("no routes today")
"""


def test_a_plugin_whose_routes_fail_stops_the_daemon_in_one_line(tmp_path: Path) -> None:
    """The routes are built just after ready, but a plugin that cannot register them still stops
    ``alertd run`` (exit 2, one line), as it did when they were built before ready."""
    from helpers import BASE_CONFIG, alertd_cmd, free_port

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_routes.py").write_text(BROKEN_ROUTES)
    config = tmp_path / "alertd.toml"
    db = tmp_path / "alertd.db"
    config.write_text(
        f'plugins_dir = "{plugins}"\n' + BASE_CONFIG.format(port=free_port(), db=db, level="info", server="")
    )
    done = subprocess.run(alertd_cmd("run", "-c", str(config)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    failed = [line for line in done.stderr.splitlines() if "daemon.start_failed" in line]
    assert len(failed) == 1 and "building the web routes failed: RuntimeError: no routes today" in failed[0]
    assert "Traceback" not in done.stderr


H2_PROBE = """
import sys, types
from alertd.http import lazy_protocols
lazy_protocols.install()
import hypercorn.trio  # imports h2.events for its type hints: the stand-in
before = sorted(m for m in ("h2.settings", "hyperframe") if m in sys.modules)
import h2.events
import httpcore._async.http2  # an HTTP/2 client: imports from h2.events, uses its classes
real = sys.modules["h2.events"]
print(before, type(real) is types.ModuleType, h2.events is real, real.ResponseReceived.__module__)
"""


def test_h2_events_loads_at_the_first_name_used() -> None:
    out = subprocess.run([sys.executable, "-c", H2_PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True", "True", "h2.events"]
