"""An ingest worker: a child process of ``alertd run`` that answers ``/in/`` requests for it.

``[server] ingest_processes = N`` starts N of these (alertd.ingest_pool). The HTTP process
looks the token up, reads the body under its limits, and sends the request here over a
socketpair (alertd.ingest_ipc); this process runs ``receive()`` on it exactly as the HTTP
process would (verify, rules, one commit) and answers with the reply and what the HTTP process
must count (metrics, the ``inbound.accepted`` line) and wake (the dispatcher reads this
process's commits as rows). So the per-message work runs under this process's interpreter lock,
on the other core.

It loads the same config file and plugins, opens its own store connection and writer, and runs
no engine loop, no HTTP server, no instance logic. It exits when the HTTP process tells it to
stop or goes away (its socket's end of file: also after a ``kill -9`` of the parent), and on
SIGTERM; SIGINT and SIGHUP are the parent's to handle.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from alertd import ingest_ipc, loop_pass, metrics
from alertd.config import Config, ConfigError
from alertd.config.load import build_config
from alertd.config.reading import parse_kept, read_source
from alertd.inbound import InboundRequest
from alertd.log import get_logger, setup_logging
from alertd.plugins import PluginError, check_plugins, load_config_plugins_dir, make_manager
from alertd.receive import Reply, receive
from alertd.runtime import Runtime
from alertd.startup import StartupError, open_store
from alertd.store import Store

log = get_logger("alertd.ingest")


@dataclass
class Effects:
    """What one request's ``receive()`` did that the HTTP process must repeat on its side."""

    labels: list[tuple[str, ...]] = field(default_factory=list)
    accepted: list[tuple[str, str, int]] = field(default_factory=list)
    opened: bool = False
    events: bool = False  # a commit wrote alert events (Store.on_commit): the dispatcher has work


# The request the running task handles (each trio task has its own context).
_effects: contextvars.ContextVar[Effects | None] = contextvars.ContextVar("ingest_effects", default=None)


def _count(counter: Any, *labels: str) -> None:
    """``metrics.inc`` in a worker: the count goes back with the reply (/metrics is the HTTP
    process's); receive() counts only inbound messages."""
    effects = _effects.get()
    if effects is not None:
        effects.labels.append(labels)


class _Accepted:
    """The ``accepted_summary`` service of a worker: the HTTP process writes the summary lines."""

    def add(self, runtime: Any, integration: str, outcome: str, inbound_id: int) -> None:
        effects = _effects.get()
        if effects is not None:
            effects.accepted.append((integration, outcome, inbound_id))


class WorkerRuntime(Runtime):
    """The services receive() needs, without loops: a wake-up becomes part of the reply."""

    def wake(self, loop: str) -> None:
        effects = _effects.get()
        if effects is not None:
            if loop == "escalation":
                effects.opened = True
            elif loop == "events":
                effects.events = True


class Worker:
    def __init__(self, runtime: Runtime, sock: socket.socket) -> None:
        self.runtime = runtime
        self.stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        self.sock = sock  # (non-blocking now) written directly at the end of a pass: flush_pass
        self.outbox: list[bytes] = []  # encoded frames not yet written (see send)
        self.rest = b""  # what a write at the end of a pass left over: the sender task's to write
        self.sending = False  # the sender task is writing: nothing may go between its bytes
        self.queued = trio.Event()
        self.requests: trio.Nursery | None = None
        self.stopping = trio.Event()
        limit = runtime.config.raw.server.max_body_bytes
        self.frame_limit = limit + ingest_ipc.FRAME_OVERHEAD_BYTES

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue a frame; the frames queued in one scheduler pass are written together at its
        end (``flush_pass``). The replies of one commit are queued in the same pass (the writer
        wakes its jobs together), so they leave together: one wake-up of the HTTP process per
        commit, not one per message."""
        self.outbox.append(ingest_ipc.encode(message))

    def flush_pass(self) -> None:
        """Write the frames queued in this pass, before the loop waits for I/O (alertd.loop_pass),
        with one non-blocking send. A sender task woken for them ran only in the next pass, after
        that pass's new requests (their verification, a quarter of a millisecond each): the
        replies of a commit waited for work that was not theirs. What the socket does not take
        now, the sender task writes when it can."""
        if not self.outbox or self.sending:
            return
        data, self.outbox = b"".join(self.outbox), []
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.stopping.set()  # the HTTP process is gone: nobody waits for an answer
            return
        if sent < len(data):
            self.rest = data[sent:]
            self.sending = True  # until the rest is written, later frames wait behind it
            self.queued.set()

    async def _sender(self) -> None:
        while True:
            await self.queued.wait()
            self.queued = trio.Event()
            await self._flush()

    async def _flush(self) -> None:
        """Write the rest of a pass's frames, then what was queued meanwhile."""
        self.sending = True
        try:
            while self.rest or self.outbox:
                data, self.rest = self.rest + b"".join(self.outbox), b""
                self.outbox = []
                try:
                    with trio.CancelScope(shield=True):  # a frame cut short would garble the stream
                        await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.stopping.set()  # the HTTP process is gone: nobody waits for an answer
                    self.outbox = []
                    return
        finally:
            self.sending = False

    def on_frame(self, frame: tuple[Any, ...]) -> None:
        if frame[0] == 0:
            if frame[1:] == (ingest_ipc.STOP,):
                self.stopping.set()
            return
        assert self.requests is not None
        self.requests.start_soon(self.handle, frame)

    async def handle(self, frame: tuple[Any, ...]) -> None:
        rid, name, method, headers, body, remote_addr, received_at, oversize, body_size, timed_out = frame
        runtime = self.runtime
        integration = runtime.config.integrations.get(name)
        if integration is None or not integration.config.enabled:
            self.send((rid, ingest_ipc.NOT_HANDLED, "", [], [], False, False))
            return
        effects = Effects()
        _effects.set(effects)
        request = InboundRequest(
            method=method,
            path="/in/{token}",
            headers=ingest_ipc.decoded_headers(headers),
            body=body,
            remote_addr=remote_addr,
            received_at=received_at,
        )
        try:
            reply = await receive(
                runtime, integration, request, oversize=oversize, body_size=body_size, timed_out=timed_out
            )
        except Exception:
            log.error("ingest.failed", exc_info=True, integration=name)
            reply = Reply(503, "internal error; retry later\n")
        self.send((rid, reply.status, reply.body, effects.labels, effects.accepted, effects.opened, effects.events))

    async def read(self, scope: trio.CancelScope) -> None:
        with scope:
            try:
                await ingest_ipc.read_frames(self.stream, self.frame_limit, self.on_frame)
            except ingest_ipc.FrameError as exc:
                log.error("ingest.bad_frame", error=str(exc))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        self.stopping.set()

    async def run(self) -> None:
        runtime = self.runtime
        runtime.store.start()
        end_of_pass = loop_pass.at_pass_end(self.flush_pass)
        try:
            async with trio.open_nursery() as outer:
                runtime.nursery = outer  # after-commit tasks (an SNS subscription's confirmation)
                outer.start_soon(self._signals)
                async with trio.open_nursery() as replies:
                    replies.start_soon(self._sender)
                    async with trio.open_nursery() as requests:
                        self.requests = requests
                        reading = trio.CancelScope()
                        requests.start_soon(self.read, reading)
                        self.send((0, os.getpid()))
                        log.debug("ingest.worker_ready", pid=os.getpid())
                        await self.stopping.wait()
                        reading.cancel()  # nothing new is read; requests in flight are answered
                        requests.cancel_scope.deadline = (
                            trio.current_time() + runtime.config.raw.server.graceful_timeout
                        )
                    replies.cancel_scope.cancel()  # (its send under way is shielded: it ends whole)
                await self._flush()  # the last replies
                # After-commit tasks get a moment (a confirmation's fetch is bounded by its timeout).
                outer.cancel_scope.deadline = trio.current_time() + 5
                await self._after_tasks_done(outer)
        finally:
            loop_pass.remove(end_of_pass)
            with trio.CancelScope(shield=True):
                await runtime.store.aclose()
                await self.stream.aclose()

    async def _after_tasks_done(self, outer: trio.Nursery) -> None:
        while len(outer.child_tasks) > 1:  # the signal watcher stays
            await trio.sleep(0.05)
        outer.cancel_scope.cancel()

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _signum in signals:
                log.info("ingest.worker_stopping", signal="SIGTERM")
                self.stopping.set()


def warm_up(runtime: Runtime) -> None:
    """Before the hello, what the first messages would otherwise do on first use: compile the
    rules' templates and regexes, import Jinja's filters, the metrics and orjson, and each inbound type's ``warm_up``
    (SNS: the certificate parser). Until the hello the HTTP process answers alone, so this delays
    no request; in a worker's first seconds it was a tenth of its CPU (py-spy, 32 in flight)."""
    from alertd import jsontext, lazy_regex, lazy_template

    metrics.load()  # receive() names its counter even where the count goes back with the reply
    jsontext.load()
    try:
        lazy_template.compile_waiting()
        lazy_regex.compile_waiting()
        import jinja2.filters  # noqa: F401  (rule_templates renders with them)
    except Exception as exc:  # its messages meet the same error, as in the daemon's post-ready step
        log.warning("rules.compile_failed", error=f"{type(exc).__name__}: {exc}")
    warmed: set[int] = set()
    for integration in runtime.config.integrations.values():
        inbound_type = integration.inbound_type
        warm = getattr(inbound_type, "warm_up", None)
        if warm is None or id(inbound_type) in warmed:
            continue
        warmed.add(id(inbound_type))
        try:
            warm(runtime)
        except Exception as exc:  # a lost head start only
            log.warning("ingest.warm_up_failed", integration=integration.name, error=f"{type(exc).__name__}: {exc}")


def _mark_lines() -> None:
    """The worker's lines go to the daemon's stderr in the daemon's format, with
    ``ingest_worker=PID`` at the end: which process wrote a line is seen at once."""
    pid = os.getpid()

    def mark(record: logging.LogRecord) -> bool:
        record.fields = {**getattr(record, "fields", {}), "ingest_worker": pid}
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(mark)


def _changed_since(config: Path, source: bytes, digest: str | None) -> str | None:
    from alertd.config.validated_cache import digest_of

    if digest is None or digest_of(source) == digest:
        return None
    return f"{config} changed since the daemon loaded it: not used until a reload (SIGHUP) applies it"


def load_config_for_worker(path: Path, source: bytes, pm: Any) -> Config:
    """The config in ``source`` (the file's bytes, checked against the daemon's), with the plugins
    of its ``plugins_dir``: the file is parsed once (the read for ``plugins_dir`` keeps its parse,
    which validation takes, so none stays held for the worker's life)."""
    path = path.absolute()
    load_config_plugins_dir(pm, path)
    check_plugins(pm)
    return build_config(path, parse_kept(path, source), pm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alertd.ingest_worker")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--fd", required=True, type=int)
    parser.add_argument("--digest", help="SHA-256 of the config file the daemon runs")
    args = parser.parse_args(argv)
    # The parent handles a terminal's Ctrl-C and reloads; it stops this process through its socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gc.disable()  # start-up allocates much and frees little (as for the daemon: cli.run)
    sock = socket.socket(fileno=args.fd)
    pm = make_manager()
    try:
        # The bytes checked are the bytes loaded: an edit landing in between cannot slip in.
        source = read_source(args.config)
        changed = _changed_since(args.config, source, args.digest)
        if changed:  # a worker must run the daemon's config, not an edit that is not reloaded yet
            setup_logging("info")
            log.error("ingest.worker_start_failed", error=changed)
            return 2
        config = load_config_for_worker(args.config, source, pm)
    except (ConfigError, PluginError) as exc:
        setup_logging("info")
        log.error("ingest.worker_start_failed", error=str(exc))
        return 2
    setup_logging(config.raw.log.level)
    _mark_lines()
    store = Store.for_settings(config.db_path, config.raw.store)
    try:
        open_store(store)
    except StartupError as exc:
        log.error("ingest.worker_start_failed", error=str(exc))
        return 2
    runtime = WorkerRuntime(config=config, store=store, pm=pm)
    runtime.ready = True
    runtime.services["accepted_summary"] = _Accepted()
    metrics.inc = _count  # type: ignore[assignment]
    warm_up(runtime)
    gc.collect()
    gc.freeze()
    gc.enable()
    trio.run(Worker(runtime, sock).run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
