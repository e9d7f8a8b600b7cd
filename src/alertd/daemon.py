"""The daemon: one trio nursery holding the HTTP server and every background loop.

Start-up: load and validate the config, open (and migrate) the store, bind the
HTTP server, start the loops, then tell systemd READY=1. SIGHUP validates the
whole file again and swaps it in only if it is valid. SIGTERM/SIGINT: stop
accepting, let in-flight requests finish (bounded by server.graceful_timeout),
cancel the loops, commit what is queued, exit 0.
"""

from __future__ import annotations

import errno
import gc
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pluggy
import trio
from hypercorn.config import Config as HyperConfig

from alertd import code_cache, jsontext, lazy_regex
from alertd.config import Config, ConfigError, load_config
from alertd.config.validated_cache import save_pending
from alertd.heartbeats import HeartbeatIndex, ensure_heartbeat_tokens
from alertd.http import app_queue, direct_send, keep_alive, lazy_protocols
from alertd.http.app import build_app
from alertd.integrations import TokenIndex, ensure_ical_tokens, ensure_tokens
from alertd.lazy_template import compile_waiting
from alertd.ledger import add_repeats
from alertd.links import ensure_secret
from alertd.log import get_logger, setup_logging
from alertd.maintenance import prune_inbound_log
from alertd.reload import log_warnings, reload_config
from alertd.runtime import Runtime
from alertd.sdnotify import Notifier
from alertd.startup import StartupError, check_listen, first_os_error, open_store, reason
from alertd.store import Store, StoreUnavailable

log = get_logger("alertd.daemon")


class Daemon:
    def __init__(
        self, config_path: Path, config: Config, pm: pluggy.PluginManager, notifier: Notifier | None = None
    ) -> None:
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        store = Store.for_settings(config.db_path, config.raw.store)
        self.runtime = Runtime(config=config, store=store, pm=pm)
        self.shutdown = trio.Event()
        self.exit_code = 0  # 2 when a part built after ready failed (_build_web)
        self.reloads = 0
        self._schema_version: int | None = None
        # The work done just after ready (imports, compilations, warnings) runs on one worker thread
        # at a time: each more thread holding the GIL delayed the event loop's answers (the first
        # /readyz by 20-60 ms); set in run (a trio object).
        self._after_ready: trio.CapacityLimiter | None = None

    async def _in_background(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the after-ready worker thread (one at a time, in the order asked)."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self._after_ready)

    # --- start-up --------------------------------------------------------------
    def preflight(self) -> None:
        """Fail before serving, with one line, if the address or the database is unusable."""
        config = self.runtime.config
        check_listen(config.raw.server.listen)
        self.open_store()

    def open_store(self) -> int:
        if self._schema_version is None:
            self._schema_version = open_store(self.runtime.store)
        return self._schema_version

    # --- signals ---------------------------------------------------------------
    async def _signals(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    log.info("daemon.stopping", signal=signal.Signals(signum).name)
                    self.shutdown.set()

    async def reload(self) -> bool:
        """Validate the config file whole; swap it in only if it is valid."""
        if not await reload_config(self.config_path, self.runtime, self.notifier, self._refresh_tokens):
            return False
        self.reloads += 1
        pool = self.runtime.services.get("ingest")
        if pool is not None:  # the workers load the file again
            await pool.restart()
        return True

    async def _watchdog(self, interval: float) -> None:
        while True:
            if self.runtime.store.is_open:
                self.notifier.notify("WATCHDOG=1")
            await trio.sleep(interval)

    async def _refresh_tokens(self) -> None:
        """Make sure every integration has its URL token, and index them for lookups."""
        runtime = self.runtime
        config = runtime.config

        def ensure(db: Any) -> tuple[dict[str, str], dict[str, str], bytes, dict[str, str]]:
            # One transaction (one commit, one trip to the writer thread) rather than four, at every start.
            return (
                ensure_tokens(db, config),
                ensure_ical_tokens(db, config),
                ensure_secret(db, config),
                ensure_heartbeat_tokens(db, config),
            )

        tokens, ical_tokens, links_secret, beats = await runtime.store.write(ensure)
        runtime.services["tokens"] = TokenIndex(config, tokens)
        runtime.services["ical_tokens"] = ical_tokens
        runtime.services["links_secret"] = links_secret
        runtime.services["heartbeat_tokens"] = HeartbeatIndex(beats)

    def _start_background(self, nursery: trio.Nursery) -> None:
        """The engine's loops (their task is the first to run after ready), then whatever loops
        plugins ask for."""
        runtime = self.runtime
        nursery.start_soon(self._start_loops, nursery)
        for result in runtime.pm.hook.alertd_startup(runtime=runtime):
            if result is not None:
                runtime.spawn(result)

    async def _start_loops(self, nursery: trio.Nursery) -> None:
        # Imported here: the engine's modules (delivery, escalation, on-call ...) are a few tens
        # of ms of imports that inbound messages do not need to be accepted and committed; on a
        # worker thread, so that the server answers meanwhile (the first /readyz comes now).
        engine = await self._in_background(importlib.import_module, "alertd.engine")
        for loop in engine.LOOPS:
            nursery.start_soon(loop, self.runtime)

    async def _write_unknown_token_repeats(self) -> None:
        """Repeats of requests to unknown tokens still only counted in memory."""
        tally = self.runtime.services.get("unknown_tokens")
        counts = tally.drain() if tally is not None else []
        if counts and self.runtime.store.is_open:
            now = self.runtime.clock.now()
            try:
                await self.runtime.store.write(lambda db: add_repeats(db, counts, now))
            except StoreUnavailable as exc:
                log.warning("inbound.repeats_lost", rows=len(counts), error=str(exc))

    def _start_ingest(self, nursery: trio.Nursery) -> Any:
        """The ingest worker processes ([server] ingest_processes), started once ready: until one
        has said hello, this process answers /in/ itself."""
        count = self.runtime.config.raw.server.ingest_processes
        if not count:
            return None
        from alertd.ingest_pool import IngestPool

        pool = self.runtime.services["ingest"] = IngestPool(self.runtime, self.config_path, count)
        nursery.start_soon(pool.run)
        return pool

    async def _build_web(self, app: Any, switch_interval: float | None = None) -> None:
        """The web stack, built just after ready. A plugin whose routes cannot be registered stops
        the daemon (exit 2), as it did when the routes were built before ready: a deployment must
        not run on without the routes it configured."""
        # First the rules' templates only Jinja renders, and their regexes: else the first message
        # would compile them (and import jinja2 or regex).
        try:
            templates = await self._in_background(compile_waiting)
            regexes = await self._in_background(lazy_regex.compile_waiting)
            log.info("rules.compiled", templates=templates, regexes=regexes)
        except Exception as exc:  # its messages meet the same error, as they did without this step
            log.warning("rules.compile_failed", error=f"{type(exc).__name__}: {exc}")
        await self._in_background(jsontext.load)  # the inbound path's JSON (not at import: 30 ms)
        # A config validated in full at this start: its validated tree kept for the next start
        # (before the web build: a daemon stopped soon after ready still leaves it).
        await self._in_background(save_pending)
        try:
            try:
                async with self._after_ready:  # its imports: on the after-ready thread's turn
                    await app.warm()
            except Exception:
                pass  # kept in app.failed (a request may have started the build: the same reason)
            if app.failed is not None:  # its requests are answered 503 with the reason meanwhile
                log.error("daemon.start_failed", error=app.failed)
                self.exit_code = 2
                self.shutdown.set()
        finally:
            # The code compiled up to here (the web's too) kept for the next start (alertd.code_cache).
            counts = await self._in_background(code_cache.save_active)
            if counts is not None:
                log.info("startup.code_cache", reused=counts[0], compiled=counts[1])
            if switch_interval is not None:
                sys.setswitchinterval(switch_interval)
            collect_after_start()

    # --- main ------------------------------------------------------------------
    async def run(self) -> None:
        lazy_protocols.install()  # before hypercorn's server: HTTP/2 and WebSockets load on first use
        import hypercorn.trio

        app_queue.install()  # a request's body reaches the app without a scheduler trip per message
        keep_alive.install()  # hypercorn's keep-alive timer moved, not a task per request
        direct_send.install()  # a response's bytes written at once, without scheduler trips
        runtime = self.runtime
        config = runtime.config
        self._after_ready = trio.CapacityLimiter(1)
        version = self.open_store()
        log.info("config.loaded", path=str(config.path), from_cache=config.from_cache)
        log.info("store.opened", path=runtime.store.where, schema_version=version)
        runtime.store.start()
        try:
            async with trio.open_nursery() as outer:
                await outer.start(self._signals)
                interval = self.notifier.watchdog_interval()
                if interval:
                    outer.start_soon(self._watchdog, interval)
                await self._refresh_tokens()
                await prune_inbound_log(runtime)
                async with trio.open_nursery() as loops:
                    runtime.nursery = loops
                    hc = HyperConfig()
                    hc.bind = [config.raw.server.listen]
                    hc.graceful_timeout = config.raw.server.graceful_timeout
                    hc.accesslog = None
                    # hypercorn's own errors go through our handler: one key=value line each.
                    hc.errorlog = logging.getLogger("hypercorn.error")
                    served = trio.Event()
                    app = build_app(runtime)

                    async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                        try:
                            await hypercorn.trio.serve(
                                app,
                                hc,
                                shutdown_trigger=self.shutdown.wait,
                                task_status=task_status,
                            )
                        finally:
                            served.set()

                    binds = await loops.start(serve)
                    # The loops start once the server listens: overdue steps fire after readiness.
                    self._start_background(loops)
                    runtime.ready = True
                    # The API, console and plugins' routes (Quart) load now, off the way of ready.
                    # Meanwhile worker threads import and compile: the event loop takes the GIL
                    # back after 0.5 ms instead of 5, so that requests are answered in between.
                    switch_interval = sys.getswitchinterval()
                    sys.setswitchinterval(min(switch_interval, 0.0005))
                    loops.start_soon(self._build_web, app, switch_interval)
                    pool = self._start_ingest(loops)
                    for url in binds:
                        log.info("http.listening", url=url)
                    self.notifier.notify("READY=1", f"STATUS=serving on {', '.join(binds)}", f"MAINPID={os.getpid()}")
                    # Valid settings that page nobody: logged once ready (a line each: 300 users
                    # without a channel were 1% of the start), from a worker thread (as above).
                    loops.start_soon(self._in_background, log_warnings, config)
                    await self.shutdown.wait()
                    runtime.ready = False
                    for listener in runtime.listeners:  # e.g. the console's open event streams end now
                        close = getattr(listener, "close", None)
                        if close is not None:
                            close()
                    self.notifier.notify("STOPPING=1")
                    with trio.move_on_after(config.raw.server.graceful_timeout + 5):
                        await served.wait()
                    if pool is not None:
                        await pool.aclose(timeout=config.raw.server.graceful_timeout + 5)
                    loops.cancel_scope.cancel()
                outer.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._write_unknown_token_repeats()
                await runtime.store.aclose()
            log.info("daemon.stopped", reloads=self.reloads)


def collect_after_start() -> None:
    """``alertd run`` starts with the garbage collector off (cli.run): start-up creates some
    80,000 lasting objects and little garbage, so its 190 collections walked them again and again
    (12% of the time to ready with the 600 KB config of bench/startup.py).
    After ready and the web build: one full collection (some of start-up's garbage cycles may hold
    files or sockets: they must not outlive it), then what survived is frozen out of later
    collections (so the first ones do not walk it all again), and the collector is back on."""
    if gc.isenabled():
        return
    gc.collect()
    gc.freeze()
    gc.enable()


def run(config_path: Path, pm: pluggy.PluginManager) -> int:
    """Entry point of ``alertd run``; returns the process exit code (2: could not start)."""
    try:
        config = load_config(config_path, pm, cached=True)
    except ConfigError as exc:
        setup_logging("info")
        log.error("config.invalid", path=str(exc.path), problems=len(exc.problems), errors=str(exc))
        return 2
    setup_logging(config.raw.log.level)
    daemon = Daemon(config_path, config, pm)
    try:
        daemon.preflight()
    except StartupError as exc:
        log.error("daemon.start_failed", error=str(exc))
        return 2
    try:
        trio.run(daemon.run)
    except Exception as exc:
        # Someone took the address between the check and the bind: still one line, not a nest of groups.
        os_error = first_os_error(exc)
        if os_error is None or os_error.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            raise
        log.error("daemon.start_failed", error=f"cannot listen on {config.raw.server.listen}: {reason(os_error)}")
        return 2
    return daemon.exit_code
