"""Real tier: metrics across workers, graceful shutdown, the open-stream limit."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End, Error

from ..conftest import Server

pytestmark = pytest.mark.real


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    return total if found else 0.0


def scrape(server: Server) -> str:
    response = requests.get(server.url("/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


@pytest.mark.timeout(90)
def test_workers_start_patched_without_warnings(server: Server) -> None:
    """gevent must patch before ssl is imported: the master imports streamer through
    gunicorn.conf.py, and once imported the client (requests, urllib3, ssl) there, which left
    urllib3 unpatched in every worker and a MonkeyPatchWarning in the log."""
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    assert "MonkeyPatchWarning" not in server.log()


def test_metrics_move_across_workers(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_HEARTBEAT_S": "0.3"}, workers=2)
    before = scrape(server)
    n = 6
    for _ in range(n):  # complete streams, spread over both workers by the kernel
        body = requests.get(
            server.url("/stream/data?count=3&interval=0&format=ndjson"), timeout=5
        ).content
        assert body.endswith(b'{"event":"end","count":3}\n')
    # A failed stream, an open-failure, a disconnect, and an open stream.
    with (
        requests.get(
            server.url("/_test/stream?count=5&fail_after=2&format=ndjson"), stream=True, timeout=5
        ) as r,
        pytest.raises(requests.RequestException),
    ):
        r.content  # noqa: B018  (read to the cut)
    assert (
        requests.get(
            server.url("/_test/stream?fail_before=1&error=upstream"), timeout=5
        ).status_code
        == 502
    )
    gone = requests.get(server.url("/_test/stream?count=1&idle_after=30"), stream=True, timeout=5)
    next(gone.iter_content(chunk_size=None))
    gone.close()
    held = requests.get(
        server.url("/_test/stream?count=1&idle_after=30&tag=held"), stream=True, timeout=5
    )
    # Keep the iterator: a discarded iter_content() generator closes the connection.
    held_chunks = held.iter_content(chunk_size=None)
    next(held_chunks)
    time.sleep(0.5)
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    route = "/stream/data"
    assert delta("streamer_streams_started_total", route=route) == n
    assert delta("streamer_streams_finished_total", route=route, outcome="complete") == n
    assert delta("streamer_records_sent_total", format="ndjson") >= 3 * n + 2
    assert delta("streamer_bytes_sent_total", format="ndjson") > 0
    assert delta("streamer_stream_errors_total", type="internal_error") == 1
    assert delta("streamer_upstream_errors_total", type="upstream_error") == 1
    assert delta("streamer_client_disconnects_total") == 1
    assert metric(after, "streamer_open_streams") == 1
    assert delta("streamer_time_to_first_byte_seconds_count", route=route) == n
    assert delta("streamer_stream_duration_seconds_count", route=route) == n
    held.close()
    time.sleep(0.5)
    assert metric(scrape(server), "streamer_open_streams") == 0


@pytest.mark.timeout(60)
def test_sigterm_during_open_streams_ends_each_with_shutdown(
    make_server: Any, tmp_path: Path
) -> None:
    prom = tmp_path / "prom"  # given, so it outlives the master and its counts can be read
    prom.mkdir()
    server: Server = make_server(
        {
            "STREAMER_HEARTBEAT_S": "1",
            "STREAMER_GRACEFUL_TIMEOUT_S": "10",
            "PROMETHEUS_MULTIPROC_DIR": str(prom),
        }
    )
    results: dict[int, tuple[list[Any], str]] = {}
    opened = threading.Barrier(21)

    def reader(i: int) -> None:
        fmt = "sse" if i % 2 else "ndjson"
        decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
        got: list[Any] = []
        outcome = "complete"
        try:
            with requests.get(
                server.url(f"/stream/data?count=1000&interval=0.2&format={fmt}"),
                stream=True,
                timeout=15,
            ) as response:
                first = True
                for chunk in response.iter_content(chunk_size=None):
                    got.extend(decoder.feed(chunk))
                    if first:
                        first = False
                        opened.wait(timeout=20)
        except requests.RequestException:
            outcome = "cut"
        if fmt == "sse":
            results[i] = (got, f"{outcome} retry={decoder.retry_ms}")
        else:
            results[i] = (got, outcome)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    opened.wait(timeout=20)
    time.sleep(0.3)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=15)
    took = time.monotonic() - started
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 20
    for got, outcome in results.values():
        assert any(isinstance(r, Data) for r in got)
        assert not any(isinstance(r, End) for r in got), "a cut stream must not look complete"
        assert isinstance(got[-1], Error) and got[-1].type == "shutdown", got[-3:]
        assert outcome.startswith("cut")
    assert took < 10, f"the master took {took:.1f} s to exit"
    # The worker counted those endings just before it exited: none may be lost with it.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(prom))  # type: ignore[no-untyped-call]
    shutdowns = sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "streamer_streams_finished_total"
        and sample.labels.get("outcome") == "shutdown"
    )
    assert shutdowns == 20


@pytest.mark.timeout(60)
def test_open_stream_limit_answers_503_with_retry_after(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_MAX_STREAMS": "3"})
    held = [
        requests.get(server.url("/stream/data?count=100&interval=1"), stream=True, timeout=5)
        for _ in range(3)
    ]
    # Keep the iterators: a discarded iter_content() generator closes the connection.
    chunks = [r.iter_content(chunk_size=None) for r in held]
    try:
        for it in chunks:
            next(it)
        over = requests.get(server.url("/stream/data?count=1"), timeout=5)
        assert over.status_code == 503
        assert over.headers["Retry-After"] == "1"
        assert over.json()["error"]["type"] == "too_many_streams"
    finally:
        for r in held:
            r.close()
    time.sleep(0.3)
    assert requests.get(server.url("/stream/data?count=1&interval=0"), timeout=5).ok
