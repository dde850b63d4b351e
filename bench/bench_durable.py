"""Durable Streams: streamer against the Node reference server (``@durable-streams/server``,
pinned in tests/node/package-lock.json) in the same run, both in memory, one process each.

    .venv/bin/python bench/bench_durable.py            # 2000 appends, 100 readers x 100 messages
    .venv/bin/python bench/bench_durable.py --smoke    # tiny

Prints a markdown table: appends/s (64-byte bodies, from ``--writers`` concurrent writers
that each wait for their answer), and the read fan-out: ``--readers`` SSE readers follow one
stream while one writer appends ``--messages`` messages 10 ms apart; the delay from a
POST's start to a message's arrival at a reader, p50/p99/max, over every delivery. The same
load client (bench/durable_load.mjs, plain ``fetch``) drives both. streamer runs the service
under gunicorn with one ``streamer.worker.Worker``. No CPU pinning: on a loaded 2-core box
the figures are comparable within a run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None) == 404:  # the reference server: up, no such stream
                return
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def start(peer: str, port: int) -> subprocess.Popen[bytes]:
    if peer == "streamer":
        env = {
            **os.environ,
            "PORT": str(port),
            "STREAMER_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "STREAMER_DURABLE": "1",
            "STREAMER_LOG_LEVEL": "warning",
            # One client address (loopback) holds every SSE reader: no per-client limits
            # (live reads are open streams of their client, docs/durable-streams.md).
            "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
            "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
        }
        env.pop("REDIS_URL", None)
        env.pop("STREAMER_API_KEYS", None)
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
    else:
        cmd = ["node", "durable/reference_server.mjs", str(port)]
        proc = subprocess.Popen(
            cmd, cwd=NODE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_ready(f"http://127.0.0.1:{port}/v1/stream/none", proc)
    return proc


def load(port: int, args: argparse.Namespace) -> dict[str, float]:
    done = subprocess.run(
        [
            "node",
            str(ROOT / "bench" / "durable_load.mjs"),
            f"http://127.0.0.1:{port}",
            str(args.appends),
            str(args.writers),
            str(args.readers),
            str(args.messages),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="tiny: it runs, figures mean nothing")
    args = parser.parse_args()
    if args.smoke:
        args.appends, args.writers, args.readers, args.messages = 40, 2, 5, 5
    results = {}
    for peer in ("streamer", "reference"):
        port = free_port()
        proc = start(peer, port)
        try:
            results[peer] = load(port, args)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print("| metric | streamer | Node reference (@durable-streams/server) |")
    print("| --- | --- | --- |")
    rows = [
        ("appends/s", "appendsPerS", 0),
        ("fan-out: readers complete", "completeReaders", 0),
        ("fan-out delay p50, ms", "p50", 1),
        ("fan-out delay p99, ms", "p99", 1),
        ("fan-out delay max, ms", "max", 1),
    ]
    for label, key, digits in rows:
        cells = [f"{results[p][key]:.{digits}f}" for p in ("streamer", "reference")]
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    print(
        f"\n{args.appends} appends from {args.writers} writers; {args.readers} SSE readers x "
        f"{args.messages} messages."
    )


if __name__ == "__main__":
    main()
