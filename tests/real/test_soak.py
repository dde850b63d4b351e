"""Soak (real tier): 2,000 concurrent streams opening and closing continuously on one gevent
worker, with random client disconnects, for ``STREAMER_SOAK_S`` seconds (CI: 45; by hand,
e.g. ``STREAMER_SOAK_S=300``).

Each of 2,000 client tasks (asyncio, raw sockets, ``Connection: close``) loops: open
``/stream/data`` as ndjson with a random count and interval; one in five leaves after a
random number of bytes, the rest read to the end and check the body: chunked and terminated,
ids 1..count in order, then ``end`` with that count. The worker's open file descriptors,
threads and RSS are sampled every second; the first window (after a warm-up) and the last
window must agree within the tolerances below, stated here and in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import Server

pytestmark = pytest.mark.real

SOAK_S = float(os.environ.get("STREAMER_SOAK_S", "45"))
CONCURRENCY = int(os.environ.get("STREAMER_SOAK_STREAMS", "2000"))
DISCONNECT_P = 0.2
WARMUP_S = min(15.0, SOAK_S / 3)
WINDOW_S = max(5.0, (SOAK_S - WARMUP_S) / 4)
# Tolerances, last window against first window (means of the samples in each):
FD_TOLERANCE = 0.10  # open fds: within 10 % (they track the streams open at that moment)
THREAD_TOLERANCE = 0  # threads: exactly the same
RSS_TOLERANCE_MIB = 16.0  # RSS: at most this much higher


@dataclass
class Tally:
    complete: int = 0
    disconnected: int = 0
    records: int = 0
    errors: list[str] = field(default_factory=list)


def _unchunk(body: bytes) -> tuple[bytes, bool]:
    """The decoded body and whether the terminating 0-chunk was there."""
    out = bytearray()
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return bytes(out), False
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out), body[end : end + 4] == b"\r\n\r\n"
        out += body[end + 2 : end + 2 + size]
        if len(body) < end + 2 + size + 2:
            return bytes(out), False
        pos = end + 2 + size + 2


def check_body(raw: bytes, count: int) -> str | None:
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return f"status: {head[:60]!r}"
    if b"transfer-encoding: chunked" not in head.lower():
        return "not chunked"
    payload, terminated = _unchunk(body)
    if not terminated:
        return "no terminator"
    lines = [json.loads(line) for line in payload.split(b"\n") if line]
    data = [r for r in lines if r["event"] == "data"]
    if [r["id"] for r in data] != list(range(1, count + 1)):
        return "ids out of order or missing"
    if lines[-1] != {"event": "end", "count": count}:
        return f"last record {lines[-1]}"
    return None


async def one_stream(port: int, rng: random.Random, tally: Tally) -> None:
    count = rng.randint(5, 40)
    interval = rng.choice((0.05, 0.1, 0.2))
    leave_after = rng.randint(100, 1500) if rng.random() < DISCONNECT_P else None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET /stream/data?count={count}&interval={interval}&format=ndjson "
            f"HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        if leave_after is not None:
            got = 0
            while got < leave_after:
                chunk = await reader.read(leave_after - got)
                if not chunk:
                    break
                got += len(chunk)
            tally.disconnected += 1
            return
        raw = await asyncio.wait_for(reader.read(-1), timeout=count * interval + 30)
        problem = check_body(raw, count)
        if problem:
            tally.errors.append(problem)
        else:
            tally.complete += 1
            tally.records += count
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def client_loop(port: int, seed: int, until: float, tally: Tally) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, 3))  # ramp up over 3 s
    while time.monotonic() < until:
        try:
            await one_stream(port, rng, tally)
        except (TimeoutError, OSError) as exc:
            tally.errors.append(repr(exc))


def sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "t": time.monotonic(),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(values["Threads"]),
        "rss_mib": int(values["VmRSS"].split()[0]) / 1024,
    }


async def run_soak(server: Server, pid: int) -> tuple[Tally, list[dict[str, float]]]:
    tally = Tally()
    samples: list[dict[str, float]] = []
    until = time.monotonic() + SOAK_S

    async def sampler() -> None:
        while time.monotonic() < until:
            samples.append(sample(pid))
            await asyncio.sleep(1.0)

    tasks = [client_loop(server.port, seed, until, tally) for seed in range(CONCURRENCY)]
    await asyncio.gather(sampler(), *tasks)
    return tally, samples


def window(samples: list[dict[str, float]], start: float, end: float) -> dict[str, float]:
    chosen = [s for s in samples if start <= s["t"] < end]
    assert len(chosen) >= 3, "too few samples in a window"
    return {k: statistics.mean(s[k] for s in chosen) for k in ("fds", "threads", "rss_mib")}


@pytest.mark.timeout(SOAK_S + 120)
def test_soak_2000_concurrent_streams_with_random_disconnects(make_server: Any) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONCURRENCY + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, CONCURRENCY * 2 + 500), hard))
    server: Server = make_server(
        {"STREAMER_WORKER_CONNECTIONS": str(CONCURRENCY * 2), "STREAMER_HEARTBEAT_S": "5"}
    )
    [pid] = server.worker_pids()
    started = time.monotonic()
    tally, samples = asyncio.run(run_soak(server, pid))
    t0 = started + WARMUP_S
    first = window(samples, t0, t0 + WINDOW_S)
    last = window(samples, started + SOAK_S - WINDOW_S, started + SOAK_S)
    peak = max(s["fds"] for s in samples)
    print(
        f"\nsoak {SOAK_S:g} s, {CONCURRENCY} concurrent: {tally.complete} complete streams "
        f"({tally.records} records), {tally.disconnected} client disconnects, "
        f"{len(tally.errors)} errors; fds first/last/peak {first['fds']:.0f}/"
        f"{last['fds']:.0f}/{peak}, threads {first['threads']:.0f}/{last['threads']:.0f}, "
        f"RSS MiB {first['rss_mib']:.1f}/{last['rss_mib']:.1f}"
    )
    assert not tally.errors, tally.errors[:10]
    assert tally.complete > CONCURRENCY and tally.disconnected > CONCURRENCY * DISCONNECT_P / 2
    assert peak > CONCURRENCY * 0.8, "2,000 streams were never open at once"
    assert abs(last["fds"] - first["fds"]) <= FD_TOLERANCE * first["fds"]
    assert abs(last["threads"] - first["threads"]) <= THREAD_TOLERANCE
    assert last["rss_mib"] - first["rss_mib"] <= RSS_TOLERANCE_MIB
    # After the run every stream is closed and the fds are back near idle.
    deadline = time.monotonic() + 15
    while sample(pid)["fds"] > 60 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sample(pid)["fds"] <= 60
    metrics = requests.get(server.url("/metrics"), timeout=10).text
    assert 'streamer_open_streams{route="/stream/data"} 0.0' in metrics
    assert "Traceback" not in server.log()
