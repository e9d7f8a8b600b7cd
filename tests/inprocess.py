"""The daemon in-process, for tests of what the daemon *does* rather than of the process.

``async with in_process(config_path) as app:`` builds everything the way ``alertd run``
does (``daemon.run``): plugins from the config's ``plugins_dir`` checked, the config
loaded, the store opened and migrated, integration tokens written, then the app of
``build_app`` and every loop of ``engine.LOOPS`` (and plugins' ``alertd_startup``
loops) in the test's trio nursery. Requests go straight to the ASGI app through
``httpx.AsyncClient`` with an ``ASGITransport`` (no socket, no hypercorn), so a test
costs milliseconds instead of a subprocess start (~1 s of imports each).

``app.clock`` is the runtime's clock seam (``runtime.clock``): ``await app.advance(300)``
moves it five minutes forward and wakes every loop, so escalation steps minutes apart
fire at once, and deterministically.

``InProcessThread(config_path)`` is the same daemon in a thread of its own, for sync tests
that wait with ``helpers.wait_until`` beside real peers: ``post`` and ``get`` as
``helpers.DaemonProcess`` has them (so ``inbound_fixtures.post_envelope`` works), without the
subprocess.

On both backends: a test module marked ``pytestmark = pytest.mark.usefixtures("each_backend")``
(tests/postgres.py) runs twice; on the postgresql run ``in_process`` points the config's
``[store] path`` at a fresh PostgreSQL database standing for that file, and
``inbound_fixtures.Db(that path)`` reads it, so a test needs no edit of its own.

Not covered here, by design: signals, sd_notify, the bind, start-up failures, crash
safety and file modes. Those test the process itself and keep using
``helpers.DaemonProcess``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import trio

from alertd import jsontext
from alertd.config import load_config
from alertd.daemon import Daemon
from alertd.engine import LOOPS
from alertd.http.app import build_app
from alertd.maintenance import prune_inbound_log
from alertd.plugins import check_plugins, load_config_plugins_dir, make_manager
from alertd.runtime import Clock, Runtime
from postgres import config_on_backend

T = TypeVar("T")


class FakeClock(Clock):
    """Real time plus an offset that only the test moves (never backwards)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


class InProcess:
    """A running in-process daemon: its runtime, an HTTP client on its app, its clock."""

    def __init__(self, runtime: Runtime, client: httpx.AsyncClient, clock: FakeClock, config_path: Path) -> None:
        self.runtime = runtime
        self.client = client
        self.clock = clock
        self.config = config_path

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, **kwargs)

    async def advance(self, seconds: float) -> None:
        """Move the runtime's clock forward and wake every loop so that they see it now."""
        self.clock.offset += seconds
        for name in list(self.runtime.wakeups):
            self.runtime.wake(name)
        await trio.sleep(0)

    async def off_loop(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking helper (a fake peer's ``wait_for``, a CLI call) in a thread, so that
        the daemon's loops keep running in this trio run meanwhile."""
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def wait_until(self, probe: Callable[[], T], timeout: float = 20, what: str = "condition") -> T:
        """helpers.wait_until for trio tests: polls without blocking the loops under test (an
        IndexError, a row not written yet, counts as "not yet" there too)."""
        missing = None
        with trio.move_on_after(timeout):
            while True:
                try:
                    value = probe()
                except IndexError as exc:
                    value, missing = None, exc
                if value:
                    return value
                await trio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}") from missing


@asynccontextmanager
async def in_process(config_path: Path) -> AsyncIterator[InProcess]:
    """The daemon of ``config_path`` running in the caller's trio run (see the module docstring)."""
    config_on_backend(config_path)  # under each_backend's postgresql run: a PostgreSQL database
    pm = make_manager()
    load_config_plugins_dir(pm, config_path)
    check_plugins(pm)
    config = load_config(config_path, pm)
    daemon = Daemon(config_path, config, pm)
    clock = FakeClock()
    daemon.runtime.clock = clock
    runtime = daemon.runtime
    daemon.preflight()
    runtime.store.start()
    try:
        async with trio.open_nursery() as nursery:
            runtime.nursery = nursery
            await daemon._refresh_tokens()
            await prune_inbound_log(runtime)
            app = build_app(runtime)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://alertd.test", timeout=30) as client:
                daemon._start_background(nursery)
                runtime.ready = True
                await app.warm()  # the web stack, as alertd run builds it just after ready
                jsontext.load()  # and the inbound path's orjson
                yield InProcess(runtime, client, clock, config_path)
                runtime.ready = False
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await runtime.store.aclose()


class InProcessThread:
    """``in_process`` run by ``trio.run`` in its own thread; requests are handed to it."""

    def __init__(self, config_path: Path) -> None:
        self.config = config_path
        self.app: InProcess | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="alertd-in-process", daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        async with in_process(self.config) as app:
            self.app, self._token, self._stop = app, trio.lowlevel.current_trio_token(), trio.Event()
            self._ready.set()
            await self._stop.wait()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return trio.from_thread.run(functools.partial(fn, *args, **kwargs), trio_token=self._token)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.app is not None
        return self._call(self.app.client.request, method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.app is not None
        return self._call(self.app.get, path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.app is not None
        return self._call(self.app.post, path, **kwargs)

    def __enter__(self) -> InProcessThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None or self.app is None:
            raise AssertionError(f"the in-process daemon did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None and self._stop is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)
        if self._error is not None:
            raise self._error


__all__ = ["LOOPS", "FakeClock", "InProcess", "InProcessThread", "in_process"]
