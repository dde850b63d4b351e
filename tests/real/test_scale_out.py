"""Beyond one machine, with the real parts: Debian's nginx (rendered from
deploy/nginx/streamer.conf.template, TLS and HTTP/2 toward clients) in front of two gunicorn
instances of two gevent workers each, on one real redis-server; all on free loopback ports.

- 500 concurrent streams through nginx, spread over both instances, each complete, the first
  record as early as without nginx (same run: nothing buffers on the way);
- one instance SIGKILLed mid-stream: its plain streams end incomplete (no ``end``), every
  resumable reader resumes through nginx with ``Last-Event-ID`` and gets every record exactly
  once (``producer_lost`` for the producers that died, within the lease), and new streams are
  served by the survivor;
- a rolling restart (SIGTERM one, start it again, then the other): resumable readers lose
  nothing, and their streams end complete (a stopping worker lets its producers finish);
- HTTP/2: ``curl --http2 -N`` streams incrementally; headless Chromium keeps 10 streams of one
  origin flowing at once over HTTP/2, and stops at 6 over HTTP/1.1.

Figures are printed (``pytest -s``) and written to tests/artifacts/scale_out.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamer.wire.records import Data, End, Error

from ..conftest import ROOT, Server
from ..nginx_fixture import Nginx
from ..redis_fixture import RedisServer, fresh_redis
from ..stream_load import Gauge, Result, Resumer, fetch

__all__ = ["fresh_redis"]  # a fixture, imported for pytest

pytestmark = pytest.mark.real

LEASE_S = 2.0
ARTIFACTS = ROOT / "tests" / "artifacts"
FIGURES: dict[str, Any] = {}


def report(**figures: Any) -> None:
    FIGURES.update(figures)
    print(json.dumps(figures, indent=1))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scale_out.json").write_text(json.dumps(FIGURES, indent=1))


class Deployment:
    """Two instances (two workers each) on one Redis, nginx in front."""

    def __init__(self, folder: Path, redis: RedisServer) -> None:
        self.folder = folder
        self.env = {
            "REDIS_URL": redis.url,
            "STREAMER_HEARTBEAT_S": "0.5",
            "STREAMER_LEASE_S": str(LEASE_S),
            "STREAMER_GRACEFUL_TIMEOUT_S": "20",
        }
        self.servers: list[Server] = []
        self.nginx: Nginx | None = None
        try:
            self.a = self.start("a")
            self.b = self.start("b")
            nginx_dir = folder / "nginx"
            nginx_dir.mkdir()
            self.nginx = Nginx(nginx_dir, [f"127.0.0.1:{self.a.port}", f"127.0.0.1:{self.b.port}"])
        except BaseException:
            self.stop()
            raise
        self.base = f"https://127.0.0.1:{self.proxy.https_port}"

    def start(self, name: str, port: int | None = None) -> Server:
        server = Server(
            self.env, self.folder / f"{name}-{len(self.servers)}.log", workers=2, port=port
        )
        self.servers.append(server)
        return server

    def name_of(self, upstream: str) -> str:
        return "a" if upstream.endswith(f":{self.a.port}") else "b"

    @property
    def proxy(self) -> Nginx:
        assert self.nginx is not None
        return self.nginx

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for server in self.servers:
            server.stop()


@pytest.fixture
def deployment(tmp_path: Path, fresh_redis: RedisServer) -> Iterator[Deployment]:
    if os.environ.get("CI") is None and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    deployment = Deployment(tmp_path, fresh_redis)
    yield deployment
    deployment.stop()


def sigkill(server: Server) -> None:
    """The whole instance dies at once, master and workers, as in a machine's crash."""
    for pid in [server.proc.pid, *server.worker_pids()]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.proc.wait(timeout=10)


def wait_closed(port: int, timeout: float = 10.0) -> None:
    """Until nothing listens on ``port`` (a stopping gunicorn closes its sockets first)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still listens after {timeout} s")


def lost_and_duplicated(got: list[int], expected: list[int]) -> tuple[int, int]:
    return len(set(expected) - set(got)), len(got) - len(set(got))


def whole_stream(base: str, stream_id: str) -> list[Any]:
    """What the store holds for a stream, read once more from the start."""
    result = asyncio.run(fetch(f"{base}/streams/{stream_id}?format=ndjson", timeout_s=30))
    assert result.status == 200, result
    return result.records


# -- 500 streams ----------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_500_streams_through_nginx_spread_complete_and_unbuffered(deployment: Deployment) -> None:
    n, count, interval = 500, 20, 0.5  # each stream 9.5 s: all 500 are open together
    path = f"/stream/data?count={count}&interval={interval}&format=ndjson"
    direct_urls = [(deployment.a if i % 2 else deployment.b).url(path) for i in range(n)]

    async def batch(urls: list[str]) -> tuple[list[Result], Gauge]:
        # Clients arrive over 4 s (as users do), not in one burst of 500 TLS handshakes that
        # would measure this machine's handshake queue instead of the proxy's latency. Each
        # stream lasts 9.5 s, so from the last arrival on all 500 are open together.
        gauge = Gauge()

        async def arrive(i: int, url: str) -> Result:
            await asyncio.sleep(i * 4.0 / n)
            return await fetch(url, gauge=gauge, timeout_s=90)

        results = await asyncio.gather(*(arrive(i, u) for i, u in enumerate(urls)))
        return list(results), gauge

    direct, _ = asyncio.run(batch(direct_urls))
    proxied, gauge = asyncio.run(batch([deployment.base + path] * n))

    expected = [*(Data(i, f"data chunk {i}\n") for i in range(1, count + 1)), End(count)]
    for results in (direct, proxied):
        bad = [r for r in results if r.status != 200 or not r.terminated or r.records != expected]
        assert not bad, (len(bad), bad[0].status, bad[0].error, bad[0].records[-2:])
    assert gauge.most == n, gauge  # all 500 held open through nginx at once

    upstream = deployment.proxy.upstream_of()
    spread = Counter(deployment.name_of(upstream[r.headers["x-request-id"]]) for r in proxied)
    assert spread["a"] >= n // 4 and spread["b"] >= n // 4, spread

    first_direct = sorted(r.first_data_s or 99 for r in direct)
    first_proxied = sorted(r.first_data_s or 99 for r in proxied)
    median_direct = statistics.median(first_direct)
    median_proxied = statistics.median(first_proxied)
    report(
        streams_held_through_nginx=gauge.most,
        streams_per_instance=dict(spread),
        first_chunk_median_ms_direct=round(median_direct * 1000, 1),
        first_chunk_median_ms_nginx=round(median_proxied * 1000, 1),
        first_chunk_p95_ms_direct=round(first_direct[int(n * 0.95)] * 1000, 1),
        first_chunk_p95_ms_nginx=round(first_proxied[int(n * 0.95)] * 1000, 1),
    )
    # Nothing buffers: the first record arrives long before the producer's last (9.5 s), and
    # as early as without nginx (a generous margin for a loaded 2-core machine).
    assert first_proxied[-1] < 3.0, first_proxied[-5:]
    assert median_proxied < median_direct + 0.25, (median_proxied, median_direct)


# -- an instance killed ---------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_an_instance_killed_mid_stream(deployment: Deployment) -> None:
    plain_n, resumable_n, count, interval = 24, 24, 40, 0.25  # 10 s streams
    base = deployment.base

    async def scenario() -> dict[str, Any]:
        plain = [
            asyncio.create_task(
                fetch(
                    f"{base}/stream/data?count={count}&interval={interval}&format=ndjson",
                    timeout_s=60,
                )
            )
            for _ in range(plain_n)
        ]
        readers: list[tuple[str, Resumer, asyncio.Task[None]]] = []  # (role, reader, task)
        origins: list[tuple[Resumer, Result]] = []

        async def originate() -> None:
            follower_started: list[asyncio.Task[None]] = []

            def start_follower(result: Result) -> None:
                follower = Resumer(base, result.headers["x-stream-id"])
                task = asyncio.create_task(follower.run(deadline_s=60))
                readers.append(("follower", follower, task))
                follower_started.append(task)

            first = await fetch(
                f"{base}/stream/data?count={count}&interval={interval}&resumable=1&format=ndjson",
                timeout_s=60,
                on_headers=start_follower,
            )
            origin = Resumer(base, first.headers["x-stream-id"])
            origins.append((origin, first))
            await origin.run(first, deadline_s=60)
            readers.append(("origin", origin, asyncio.current_task()))  # type: ignore[arg-type]

        starters = [asyncio.create_task(originate()) for _ in range(resumable_n)]
        await asyncio.sleep(2.0)  # every stream is well under way (about 8 records each)
        killed_at = time.monotonic()
        await asyncio.to_thread(sigkill, deployment.a)
        # New streams keep being served, by the survivor.
        fresh = await asyncio.gather(
            *(
                fetch(f"{base}/stream/data?count=5&interval=0.05&format=ndjson", timeout_s=30)
                for _ in range(20)
            )
        )
        plain_results = await asyncio.gather(*plain)
        await asyncio.gather(*starters)
        await asyncio.gather(*(t for role, _, t in readers if role == "follower"))
        return {
            "plain": plain_results,
            "readers": readers,
            "origins": origins,
            "fresh": fresh,
            "killed_at": killed_at,
        }

    out = asyncio.run(scenario())
    upstream = deployment.proxy.upstream_of()
    where = lambda r: deployment.name_of(upstream[r.headers["x-request-id"]])  # noqa: E731

    # Plain streams: those on the killed instance end incomplete, no client sees `end`;
    # those on the survivor complete.
    plain: list[Result] = out["plain"]
    on_a = [r for r in plain if where(r) == "a"]
    on_b = [r for r in plain if where(r) == "b"]
    assert on_a and on_b, (len(on_a), len(on_b))
    for r in on_a:
        assert not r.terminated and not isinstance(r.terminal, End), r.records[-2:]
        assert 0 < len(r.data) < count
    for r in on_b:
        assert r.terminated and r.terminal == End(count), (r.error, r.records[-2:])

    # New streams after the kill: all served (by b) and complete.
    fresh: list[Result] = out["fresh"]
    assert all(r.status == 200 and r.terminal == End(5) for r in fresh), [
        (r.status, r.error) for r in fresh
    ]
    assert {where(r) for r in fresh} == {"b"}

    # Resumable readers: every record exactly once, whichever instance they were on.
    producer_of = {first.headers["x-stream-id"]: where(first) for _, first in out["origins"]}
    assert set(producer_of.values()) == {"a", "b"}, producer_of
    lost = duplicated = 0
    to_producer_lost = []
    stores: dict[str, list[Any]] = {}
    for role, reader, _ in out["readers"]:
        sid = reader.stream_id
        if sid not in stores:
            stores[sid] = whole_stream(base, sid)
        stored = stores[sid]
        stored_ids = [r.id for r in stored if isinstance(r, Data)]
        missing, dup = lost_and_duplicated(reader.ids, stored_ids)
        lost, duplicated = lost + missing, duplicated + dup
        assert reader.ids == stored_ids, (role, producer_of[sid], reader.statuses)
        assert reader.terminal == stored[-1], (role, reader.terminal, reader.statuses)
        if producer_of[sid] == "a":
            assert reader.terminal == Error(
                "producer_lost", "the stream's producer stopped responding"
            )
            assert reader.terminal_at is not None
            to_producer_lost.append(reader.terminal_at - out["killed_at"])
        else:
            assert reader.terminal == End(count) and stored_ids == list(range(1, count + 1))
    assert to_producer_lost
    resumed = sum(1 for _, r, _ in out["readers"] if r.connections > 1)
    report(
        kill_plain_streams_cut=len(on_a),
        kill_plain_streams_complete=len(on_b),
        kill_resumable_readers=len(out["readers"]),
        kill_readers_that_resumed=resumed,
        kill_records_lost=lost,
        kill_records_duplicated=duplicated,
        kill_producer_lost_s_median=round(statistics.median(to_producer_lost), 2),
        kill_producer_lost_s_max=round(max(to_producer_lost), 2),
        lease_s=LEASE_S,
    )
    assert resumed > 0
    assert (lost, duplicated) == (0, 0)
    # The lease, plus one reader's lease check (lease/2) and a reconnect: generous margins.
    assert max(to_producer_lost) < LEASE_S + 3.0, to_producer_lost


# -- a rolling restart ----------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_a_rolling_restart_loses_nothing(deployment: Deployment) -> None:
    per_wave, count, interval = 20, 32, 0.25  # 8 s streams
    base = deployment.base

    async def wave() -> list[asyncio.Task[Resumer]]:
        async def one() -> Resumer:
            first = await fetch(
                f"{base}/stream/data?count={count}&interval={interval}&resumable=1&format=ndjson",
                timeout_s=60,
            )
            assert first.status == 200, first
            reader = Resumer(base, first.headers["x-stream-id"])
            await reader.run(first, deadline_s=90)
            return reader

        return [asyncio.create_task(one()) for _ in range(per_wave)]

    def restart(name: str) -> float:
        """SIGTERM the instance, start it again on its port, wait until it is healthy;
        returns how long the old one took to exit (its producers drained meanwhile)."""
        old = deployment.a if name == "a" else deployment.b
        t0 = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        wait_closed(old.port)
        new = deployment.start(name, port=old.port)
        if name == "a":
            deployment.a = new
        else:
            deployment.b = new
        old.proc.wait(timeout=30)
        return time.monotonic() - t0

    async def scenario() -> tuple[list[Resumer], dict[str, float]]:
        first_wave = await wave()
        await asyncio.sleep(1.5)
        drained = {"a": await asyncio.to_thread(restart, "a")}
        second_wave = await wave()
        await asyncio.sleep(1.5)
        drained["b"] = await asyncio.to_thread(restart, "b")
        return list(await asyncio.gather(*first_wave, *second_wave)), drained

    readers, drained = asyncio.run(scenario())
    lost = duplicated = 0
    for reader in readers:
        missing, dup = lost_and_duplicated(reader.ids, list(range(1, count + 1)))
        lost, duplicated = lost + missing, duplicated + dup
    resumed = sum(1 for r in readers if r.connections > 1)
    ends = Counter(
        type(r.terminal).__name__ if not isinstance(r.terminal, Error) else r.terminal.type
        for r in readers
    )
    report(
        rolling_readers=len(readers),
        rolling_readers_that_resumed=resumed,
        rolling_records_lost=lost,
        rolling_records_duplicated=duplicated,
        rolling_terminals=dict(ends),
        rolling_old_instance_exit_s={k: round(v, 1) for k, v in drained.items()},
    )
    assert resumed > 0  # the restarts did cut readers
    assert (lost, duplicated) == (0, 0)
    assert ends == {"End": len(readers)}  # the stopping workers let their producers finish
    for reader in readers:
        assert reader.ids == list(range(1, count + 1)), reader.statuses


# -- HTTP/2 ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_curl_over_http2_streams_incrementally(deployment: Deployment) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    proc = subprocess.Popen(
        [
            curl,
            "-skN",
            "--http2",
            "-w",
            "\\nhttp_version=%{http_version}\\n",
            deployment.base + "/stream/data?count=6&interval=0.5",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    with proc.stdout:
        for raw in iter(proc.stdout.readline, b""):
            lines.append((time.monotonic() - start, raw.decode().rstrip("\n")))
    assert proc.wait(timeout=30) == 0
    chunks = [(t, text) for t, text in lines if text.startswith("data chunk")]
    assert [text for _, text in chunks] == [f"data chunk {i}" for i in range(1, 7)]
    assert lines[-1][1] == "http_version=2"
    # The first chunk long before the last (2.5 s later): each came as it was made.
    assert chunks[0][0] < 1.5 and chunks[-1][0] - chunks[0][0] > 2.0, chunks
    report(
        curl_http2_first_chunk_s=round(chunks[0][0], 3),
        curl_http2_last_chunk_s=round(chunks[-1][0], 3),
    )


_OPEN_TEN = """
(n) => {
  window.counts = Array(n).fill(0);
  for (let i = 0; i < n; i++) {
    fetch(`/stream/data?count=40&interval=0.2&format=ndjson&n=${i}`).then(async (r) => {
      const reader = r.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const byte of value) if (byte === 10) window.counts[i] += 1;
      }
    });
  }
}
"""


def _browser_counts(deployment: Deployment, http2: bool) -> tuple[str, list[list[int]]]:
    from playwright.sync_api import sync_playwright

    from .test_page import CHROMIUM_ARGS, _chromium

    args = CHROMIUM_ARGS + ([] if http2 else ["--disable-http2"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=args, timeout=30_000)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            page.goto(deployment.base + "/")
            protocol = str(
                page.evaluate("() => performance.getEntriesByType('navigation')[0].nextHopProtocol")
            )
            page.evaluate(_OPEN_TEN, 10)
            readings = []
            for _ in range(3):
                time.sleep(1.0)
                readings.append(list(page.evaluate("() => window.counts")))
            context.close()
        finally:
            browser.close()
    return protocol, readings


@pytest.mark.timeout(90)
def test_a_browser_keeps_ten_streams_flowing_over_http2_and_six_over_http11(
    deployment: Deployment,
) -> None:
    protocol, readings = _browser_counts(deployment, http2=True)
    assert protocol == "h2"
    # All ten flow at once: each has records, and each got more between two readings.
    assert all(c > 0 for c in readings[0]), readings
    assert all(b > a for a, b in zip(readings[1], readings[2], strict=True)), readings

    protocol11, readings11 = _browser_counts(deployment, http2=False)
    assert protocol11 == "http/1.1"
    # Over HTTP/1.1 the browser opens six connections per origin: four streams wait.
    flowing = [c for c in readings11[-1] if c > 0]
    assert len(flowing) == 6, readings11
    report(
        browser_h2_streams_flowing=sum(1 for c in readings[-1] if c > 0),
        browser_http11_streams_flowing=len(flowing),
    )
