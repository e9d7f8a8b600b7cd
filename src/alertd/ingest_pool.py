"""The HTTP process's side of the ingest workers (``[server] ingest_processes``): start them,
hand each ``/in/`` request to the least busy one, repeat the reply's effects here, restart a
worker that dies.

Until a worker has said hello, and whenever none is alive, ``receive()`` returns None and the
HTTP process answers the request itself, as with ``ingest_processes = 0``: start-up and readiness
do not wait for workers. A worker's commits are rows like any other: the event dispatcher of this
process reads them; a reply only wakes it (and the escalation loop when an alert opened with a
policy to page by) so that a page does not wait for the dispatcher's poll.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from alertd import ingest_ipc, loop_pass, metrics, routing
from alertd.inbound_summary import accepted_summary
from alertd.log import get_logger
from alertd.receive import Reply
from alertd.runtime import Runtime

log = get_logger("alertd.ingest")

RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
# A worker that ran this long before it died is restarted after the first delay again.
STABLE_SECONDS = 60.0
SEND_TIMEOUT_SECONDS = 30.0
NOT_SENT: Any = object()  # the slot of a request the worker never got
# How often, at most, workers' replies wake each engine loop (Wakes). A new alert's page waits at
# most ESCALATION_WAKE_GAP_SECONDS more under sustained load; the dispatcher's other work (metrics,
# plugins' alert events, closure notices) waits no longer than for another process's commits
# (engine/events.py polls every POLL_SECONDS).
ESCALATION_WAKE_GAP_SECONDS = 0.05
EVENTS_WAKE_GAP_SECONDS = 0.25
STOPPED = Reply(503, "ingest worker stopped; retry later\n")


class Wakes:
    """The engine loops' wake-ups asked for by workers' replies, coalesced per loop: the first after
    a quiet spell is given at once, later ones at most once per the loop's gap. Each pass of the
    dispatcher or the escalation loop is a reader or writer thread hop in this process, often a
    write (about half a millisecond of its CPU, and the database's write lock taken from the
    workers); woken by every reply under load, they ran pass after pass for a message or two each.
    Nothing is lost: a wake-up only says "look now", the loops read rows (and poll)."""

    def __init__(self, runtime: Runtime, gaps: dict[str, float]) -> None:
        self.runtime = runtime
        self.gaps = gaps
        self.asked = {loop: trio.Event() for loop in gaps}

    def ask(self, loop: str) -> None:
        self.asked[loop].set()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for loop in self.gaps:
                nursery.start_soon(self._wake, loop)

    async def _wake(self, loop: str) -> None:
        while True:
            await self.asked[loop].wait()
            self.asked[loop] = trio.Event()
            self.runtime.wake(loop)
            await trio.sleep(self.gaps[loop])


@dataclass(eq=False)  # identity: kept in a set
class _Child:
    process: Any  # trio.Process
    stream: trio.SocketStream
    sock: socket.socket  # the stream's socket (non-blocking): a frame with nothing before it is sent at once
    # Frames not yet sent, with their request ids; the child's sender task writes them out
    # together: under load one send for many requests, and no lock per request.
    outbox: list[tuple[int, bytes]] = field(default_factory=list)
    queued: trio.Event = field(default_factory=trio.Event)
    # The tasks waiting for a reply, each with the slot its reply goes in. Woken directly
    # (trio.lowlevel.reschedule), not through a trio.Event each: no event, no parking lot per request.
    waiting: dict[int, tuple[trio.lowlevel.Task, list[Any]]] = field(default_factory=dict)
    pid: int = 0
    in_flight: int = 0
    retired: bool = False  # told to stop (reload, shutdown): gets no new request
    sent: set[int] = field(default_factory=set)  # request ids written out, not yet answered
    sending: bool = False  # the sender task is writing a batch: nothing may go between its bytes
    # Frames of this scheduler pass's requests, written together when the pass ends (_flush).
    pending: list[tuple[int, bytes]] = field(default_factory=list)


class IngestPool:
    def __init__(self, runtime: Runtime, config_path: Path, count: int) -> None:
        self.runtime = runtime
        self.config_path = config_path.absolute()
        self.count = count
        self.live: list[_Child] = []  # said hello, not retired
        self._all: set[_Child] = set()
        self._next_id = 0
        self._stopping = False
        self._scope: trio.CancelScope | None = None
        self._done = trio.Event()
        self.digest = self._file_digest()  # of the bytes the running config was loaded from
        self._planning: tuple[Any, set[str]] = (None, set())  # (config, integrations whose alerts get plans)
        self.wakes = Wakes(runtime, {"escalation": ESCALATION_WAKE_GAP_SECONDS, "events": EVENTS_WAKE_GAP_SECONDS})
        self._due: list[_Child] = []  # workers with frames pending (written at the pass's end)

    def _file_digest(self) -> str | None:
        """The config file's SHA-256 now (just after the daemon loaded it, or reloaded): a worker
        started later refuses a file that changed since (not reloaded yet: not in force)."""
        from alertd.config.reading import read_source
        from alertd.config.validated_cache import digest_of

        try:
            return digest_of(read_source(self.config_path))
        except Exception:  # unreadable now: the worker reports it when it loads the file
            return None

    # --- routing ---------------------------------------------------------------
    async def receive(
        self,
        name: str,
        method: str,
        headers: ingest_ipc.Headers,
        body: bytes,
        remote_addr: str,
        received_at: float,
        *,
        oversize: bool,
        body_size: int,
        timed_out: bool,
    ) -> Reply | None:
        """The worker's reply to the request (an InboundRequest's fields), or None: no worker can
        take it (answer it here)."""
        if not self.live:
            return None
        live = self.live
        child = live[0] if len(live) == 1 else min(live, key=lambda c: c.in_flight)
        self._next_id += 1
        rid = self._next_id
        slot: list[Any] = []
        frame = ingest_ipc.encode(
            (rid, name, method, headers, body, remote_addr, received_at, oversize, body_size, timed_out)
        )
        waiting = child.waiting
        waiting[rid] = (trio.lowlevel.current_task(), slot)
        child.in_flight += 1
        self._queue(child, rid, frame)

        def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
            waiting.pop(rid, None)  # cancelled (the server stopping): a late reply is dropped
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            child.in_flight -= 1
        reply = slot[0]
        if reply is NOT_SENT:
            return None  # the worker went away before it was sent: answer it here
        if reply is None:
            return STOPPED  # the worker died with it: committed or not, the sender's retry is safe
        _rid, status, body, labels, accepted, opened, events = reply
        if status == ingest_ipc.NOT_HANDLED:
            return None
        self._repeat_effects(name, labels, accepted, opened, events)
        return Reply(status, body)

    def _queue(self, child: _Child, rid: int, frame: bytes) -> None:
        """Queue the frame for the end of this scheduler pass (_flush): the requests of one pass
        go to their worker in one write, with no trip through the sender task."""
        if not child.pending:
            self._due.append(child)
        child.pending.append((rid, frame))

    def _flush(self) -> None:
        """Write the frames the requests of this scheduler pass queued, as the event loop is about
        to wait for I/O (alertd.loop_pass): one write per worker for all of them (and one read, one
        wake-up at the worker), instead of one each; no frame waits longer than its pass."""
        if not self._due:
            return
        due, self._due = self._due, []
        for child in due:
            self._write_pending(child)

    def _write_pending(self, child: _Child) -> None:
        """Write the child's pending frames at once when nothing waits before them; else, or for
        what the socket does not take now, the sender task writes them with the others."""
        frames, child.pending = child.pending, []
        if not frames:
            return
        if child.outbox or child.sending:
            child.outbox.extend(frames)
            child.queued.set()
            return
        data = frames[0][1] if len(frames) == 1 else b"".join([frame for _rid, frame in frames])
        try:
            written = child.sock.send(data)
        except OSError:  # full (BlockingIOError), or closed: the sender meets it
            written = 0
        if written == len(data):
            child.sent.update(rid for rid, _frame in frames)
            return
        start = 0
        for index, (rid, frame) in enumerate(frames):
            if start >= written:
                child.outbox.extend(frames[index:])
                break
            # (a part sent too: the worker may get the rest; 503 is the safe answer)
            child.sent.add(rid)
            if start + len(frame) > written:
                child.outbox.append((rid, frame[written - start :]))
            start += len(frame)
        child.queued.set()

    async def _send(self, child: _Child) -> None:
        """Write the child's queued frames out, together, until its socket ends. A worker that
        does not take them in SEND_TIMEOUT_SECONDS is stuck: it is killed (a new one starts)."""
        while True:
            await child.queued.wait()
            child.queued = trio.Event()
            batch, child.outbox = child.outbox, []
            with trio.move_on_after(SEND_TIMEOUT_SECONDS):
                child.sending = True
                try:
                    await child.stream.send_all(b"".join(frame for _rid, frame in batch))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    child.outbox[:0] = batch  # not (wholly) sent: _lost answers them here
                    return
                finally:
                    child.sending = False
                child.sent.update(rid for rid, _frame in batch)
                continue
            log.error("ingest.worker_stuck", pid=child.pid, timeout=SEND_TIMEOUT_SECONDS)
            child.process.kill()
            return

    def _starts_plans(self, name: str) -> bool:
        """Whether integration ``name``'s opened alerts can start an escalation plan (per config:
        recomputed after a reload)."""
        config = self.runtime.config
        if self._planning[0] is not config:
            names = {n for n, i in config.integrations.items() if routing.may_start_plan(i.config)}
            self._planning = (config, names)
        return name in self._planning[1]

    def _repeat_effects(
        self,
        name: str,
        labels: list[tuple[str, ...]],
        accepted: list[tuple[str, str, int]],
        opened: bool,
        events: bool,
    ) -> None:
        runtime = self.runtime
        for label in labels:
            metrics.inc(metrics.INBOUND, *label)
        if accepted:
            summary = accepted_summary(runtime)
            for name, outcome, inbound_id in accepted:
                summary.add(runtime, name, outcome, inbound_id)
        if events:  # the worker's commit wrote alert events: this process's dispatcher hands them on
            self.wakes.ask("events")
        if opened and self._starts_plans(name):
            # Its first step is due now. Without a policy there is no plan: a pass would only take
            # the database's write lock (from the workers, too) to find nothing due.
            self.wakes.ask("escalation")

    # --- the workers' lives ----------------------------------------------------
    async def run(self) -> None:
        """Keep ``count`` workers running until ``aclose``."""
        pass_end = loop_pass.at_pass_end(self._flush)
        try:
            with trio.CancelScope() as self._scope:
                async with trio.open_nursery() as wakes:
                    wakes.start_soon(self.wakes.run)
                    async with trio.open_nursery() as nursery:
                        for index in range(self.count):
                            nursery.start_soon(self._keep, index)
                    wakes.cancel_scope.cancel()  # the workers are gone: no reply asks for more
        finally:
            loop_pass.remove(pass_end)
            self._done.set()

    async def _keep(self, index: int) -> None:
        delay = RESTART_FIRST_SECONDS
        while not self._stopping:
            started = trio.current_time()
            child, code = await self._run_one()
            if self._stopping:
                return
            if child is not None and child.retired:  # a reload: the next one starts at once
                delay = RESTART_FIRST_SECONDS
                continue
            if trio.current_time() - started > STABLE_SECONDS:
                delay = RESTART_FIRST_SECONDS
            log.warning(
                "ingest.worker_exited",
                worker=index,
                pid=None if child is None else child.pid,
                exit_code=code,
                restart_in=delay,
            )
            await trio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_SECONDS)

    async def _run_one(self) -> tuple[_Child | None, int | None]:
        ours, theirs = socket.socketpair()
        try:
            command = [
                sys.executable,
                "-m",
                "alertd.ingest_worker",
                "--config",
                str(self.config_path),
                "--fd",
                str(theirs.fileno()),
                *(["--digest", self.digest] if self.digest else []),
            ]
            try:
                process = await trio.lowlevel.open_process(
                    command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
                )
            except OSError as exc:
                log.error("ingest.worker_start_failed", error=str(exc))
                ours.close()
                return None, None
        finally:
            theirs.close()
        child = _Child(process=process, stream=trio.SocketStream(trio.socket.from_stdlib_socket(ours)), sock=ours)
        child.pid = process.pid
        self._all.add(child)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send, child)
                await self._read(child)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._lost(child)
        return child, process.returncode

    async def _read(self, child: _Child) -> None:
        def on_frame(frame: tuple[Any, ...]) -> None:
            problem = ingest_ipc.reply_problem(frame)
            if problem is not None:
                raise ingest_ipc.FrameError(problem)
            rid = frame[0]
            if rid == 0:  # hello
                if not child.retired and not self._stopping:
                    self.live.append(child)
                log.info("ingest.worker_started", pid=frame[1])
                return
            child.sent.discard(rid)
            waiter = child.waiting.pop(rid, None)  # (popped: a task is woken once)
            if waiter is not None:
                waiter[1].append(frame)
                trio.lowlevel.reschedule(waiter[0])

        try:
            await ingest_ipc.read_frames(child.stream, ingest_ipc.REPLY_LIMIT_BYTES, on_frame)
        except ingest_ipc.FrameError as exc:
            # A confused worker: its requests in flight get 503 (_lost), a new one starts.
            log.error("ingest.bad_frame", pid=child.pid, error=str(exc))
            child.process.kill()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _lost(self, child: _Child) -> None:
        """The worker's socket ended: its waiting requests get 503, the process is reaped."""
        if child in self.live:
            self.live.remove(child)
        self._all.discard(child)
        child.pending.clear()  # (their requests are answered here: not sent)
        waiting, child.waiting = child.waiting, {}
        for rid, (task, slot) in waiting.items():
            slot.append(None if rid in child.sent else NOT_SENT)
            trio.lowlevel.reschedule(task)
        await child.stream.aclose()
        with trio.move_on_after(self.runtime.config.raw.server.graceful_timeout + 5):
            await child.process.wait()
        if child.process.returncode is None:
            child.process.kill()
            await child.process.wait()

    async def _retire(self, child: _Child) -> None:
        child.retired = True
        if child in self.live:
            self.live.remove(child)
        self._write_pending(child)  # this pass's requests go before the stop
        child.outbox.append((0, ingest_ipc.encode((0, ingest_ipc.STOP))))
        child.queued.set()

    async def restart(self) -> None:
        """After a reload: each worker answers what it has, then a new one loads the new config
        (meanwhile this process answers, or the other workers)."""
        self.digest = self._file_digest()
        for child in list(self._all):
            await self._retire(child)

    async def aclose(self, timeout: float) -> None:
        """Stop the workers: each answers what it has in flight, then exits."""
        self._stopping = True
        for child in list(self._all):
            await self._retire(child)
        with trio.move_on_after(timeout):
            await self._done.wait()
        if self._scope is not None:
            self._scope.cancel()
