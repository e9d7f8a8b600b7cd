"""bench/ingest_worker_direct: an ingest worker's CPU per SNS message, without the HTTP process.

    .venv/bin/python bench/ingest_worker_direct.py [--levels 8,32] [--messages 3000] [--runs 2]
                                                   [--tree OTHER_TREE]

Starts ``python -m alertd.ingest_worker`` on a socketpair, as ``alertd run`` does with
``[server] ingest_processes = 1``, and plays the HTTP process: request frames of the ingest mix
of bench/ingest.py (signed beforehand), ``--levels`` of them in flight. No hypercorn and no other
process competes for the worker's core, so its CPU per message (from /proc) moves less between
runs than in bench/ingest.py, where the HTTP process and the load generator share the machine.
Printed per level: the worker's CPU per message, messages per second, and the median time from a
frame's write to its reply (the worker's own latency per message). ``--tree`` runs another
checkout's src/ and plugins (PYTHONPATH) in turns with this one, for before/after comparisons.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402
from common import TOKEN, cpu_seconds, sns_config  # noqa: E402

from alertd import ingest_ipc  # noqa: E402

WARM = 300


def _env(tree: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if tree:
        plugins = sorted(str(p / "src") for p in (Path(tree) / "plugins").iterdir() if (p / "src").is_dir())
        env["PYTHONPATH"] = os.pathsep.join([str(Path(tree) / "src"), *plugins])
    return env


def _integration(config: Path) -> str:
    text = config.read_text()
    head = text[: text.index(f'token = "{TOKEN}"')]
    return head.rsplit("[integrations.", 1)[1].split("]", 1)[0]


def one_level(tree: str | None, pool: list[tuple[str, bytes, dict[str, str]]], concurrency: int, count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="alertd-bench-worker-") as tmp:
        config = sns_config(Path(tmp), ingest.WEBHOOK_INTEGRATION)
        env = _env(tree)
        name = _integration(config)
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "alertd.ingest_worker", "--config", str(config), "--fd", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
            stderr=None if os.environ.get("W2_STDERR") else subprocess.DEVNULL,
        )
        theirs.close()
        try:
            return _drive(ours, proc.pid, name, pool, concurrency, count)
        finally:
            ours.sendall(ingest_ipc.encode((0, ingest_ipc.STOP)))
            proc.wait(30)
            ours.close()


def _drive(sock: socket.socket, pid: int, name: str, pool: list, concurrency: int, count: int) -> dict:
    headers_base = {"host": "127.0.0.1", "user-agent": "Amazon Simple Notification Service Agent"}
    frames = []
    for i, (_method, body, headers) in enumerate(pool[: WARM + count]):
        hdrs = {**headers_base, **{k.lower(): v for k, v in headers.items()}, "content-length": str(len(body))}
        frames.append((i + 1, name, "POST", hdrs, body, "127.0.0.1", time.time(), False, len(body), False))
    buf = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)

    def read_replies() -> list[tuple]:
        out = []
        for _key, _ev in sel.select(30):
            data = sock.recv(1 << 20)
            if not data:
                raise RuntimeError("the worker went away")
            buf.extend(data)
        start = 0
        while len(buf) - start >= 4:
            (size,) = ingest_ipc.HEADER.unpack_from(buf, start)
            if len(buf) < start + 4 + size:
                break
            import marshal

            out.append(marshal.loads(bytes(buf[start + 4 : start + 4 + size])))
            start += 4 + size
        del buf[:start]
        return out

    while not any(r[0] == 0 for r in read_replies()):  # the hello
        pass

    def run(batch: list[tuple]) -> tuple[float, list[float]]:
        sent: dict[int, float] = {}
        waits: list[float] = []
        nxt = 0
        done = 0
        started = time.perf_counter()
        while done < len(batch):
            while nxt < len(batch) and len(sent) < concurrency:
                frame = batch[nxt]
                nxt += 1
                sent[frame[0]] = time.perf_counter()
                sock.sendall(ingest_ipc.encode(frame))
            for reply in read_replies():
                if reply[0] == 0:
                    continue
                assert 200 <= reply[1] < 300, reply
                waits.append(time.perf_counter() - sent.pop(reply[0]))
                done += 1
        return time.perf_counter() - started, waits

    run(frames[:WARM])
    cpu0, switches0 = cpu_seconds(pid), _switches(pid)
    wall, waits = run(frames[WARM:])
    cpu, switches = cpu_seconds(pid) - cpu0, _switches(pid) - switches0
    return {
        "cpu_ms": 1000 * cpu / count,
        "switches": switches / count,
        "rate": count / wall,
        "p50_ms": 1000 * statistics.median(waits),
    }


def _switches(pid: int) -> int:
    """Context switches of all the process's threads so far (each hand-over between threads is some)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="8,32")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to run in turns")
    args = parser.parse_args()
    trees: list[str | None] = [None, *args.tree]
    pool = ingest.signed_pool(WARM + args.messages)
    for run in range(args.runs):
        for level in (int(x) for x in args.levels.split(",")):
            for tree in trees:
                r = one_level(tree, pool, level, args.messages)
                print(
                    f"run {run + 1} c={level} {tree or 'this tree'}: worker {r['cpu_ms']:.3f} ms/msg, "
                    f"{r['rate']:.0f} msg/s, p50 {r['p50_ms']:.2f} ms, {r['switches']:.1f} context switches/msg",
                    flush=True,
                )


if __name__ == "__main__":
    main()
