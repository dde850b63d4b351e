"""Resumable streams: in-process views (fast) and the real tier, gunicorn with gevent workers
sharing a real redis-server.

What a dead worker can and cannot mean. A resumable producer runs in the worker that started
it. So there are two different deaths, and the tests cover both, honestly:

1. The worker *serving a reader* dies (the common case behind a load balancer: the client's
   connection was on a worker that crashed or was recycled). The producer lives elsewhere and
   keeps writing to Redis; the client reconnects to any instance with ``Last-Event-ID`` and
   gets every record exactly once, in order, ending with ``end``.
2. The worker *running the producer* dies. Its work is gone: no other process can finish an
   LLM answer half-way. What the store guarantees then is that nobody waits forever: the
   producer's lease lapses and every reader gets an ``error`` record ``producer_lost``.

The client here is written inline (``Reader``: requests plus the project's decoders, and a
resume with ``Last-Event-ID``), as the project's client with resume support is not on main yet.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from streamer.config import Config
from streamer.decoders import NDJSONDecoder, SSEDecoder
from streamer.records import Data, End, Error, Ping, Record
from streamer.response import StreamAborted

from .conftest import Server
from .redis_fixture import RedisServer, fresh_redis, redis_server

__all__ = ["fresh_redis", "redis_server"]  # fixtures, imported for pytest

MakeServer = Callable[..., Server]


def chunks(n: int) -> list[Data]:
    return [Data(i, f"data chunk {i}\n") for i in range(1, n + 1)]


class Reader:
    """A client that reads one stream and resumes it where it broke, like ``EventSource``.

    ``read(url)`` appends the records it gets to ``records`` and returns True once a terminal
    record (``end``/``error``) arrived, False if the connection broke or ``stop`` said to drop
    it. The next ``read`` sends ``Last-Event-ID`` (header, or ``?last_event_id=`` with
    ``via_query``). A record cut in half by a broken connection is dropped, never decoded.
    """

    def __init__(self, fmt: str = "ndjson", via_query: bool = False) -> None:
        self.fmt = fmt
        self.via_query = via_query
        self.records: list[Record] = []
        self.last_id = 0
        self.stream_id: str | None = None
        self.first_record_at: float | None = None

    @property
    def data(self) -> list[Data]:
        return [r for r in self.records if isinstance(r, Data)]

    @property
    def terminal(self) -> Record | None:
        last = self.records[-1] if self.records else None
        return None if last is None or isinstance(last, Data) else last

    def read(self, url: str, stop: Callable[[Record], bool] | None = None,
             timeout: float = 15.0) -> bool:
        sep = "&" if "?" in url else "?"
        headers: dict[str, str] = {}
        if self.last_id and self.via_query:
            url += f"{sep}last_event_id={self.last_id}"
        elif self.last_id:
            headers["Last-Event-ID"] = str(self.last_id)
        url += ("&" if "?" in url else "?") + f"format={self.fmt}"
        decoder = NDJSONDecoder() if self.fmt == "ndjson" else SSEDecoder()
        with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
            assert response.status_code == 200, (response.status_code, response.text[:500])
            self.stream_id = self.stream_id or response.headers.get("X-Stream-Id")
            try:
                for chunk in response.iter_content(chunk_size=None):
                    for record in decoder.feed(chunk):
                        if isinstance(record, Ping):
                            continue
                        if self.first_record_at is None:
                            self.first_record_at = time.monotonic()
                        self.records.append(record)
                        if not isinstance(record, Data):
                            return True
                        self.last_id = record.id
                        if stop is not None and stop(record):
                            return False  # drop the connection here
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                return False
        return False


def events(server: Server, tag: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = requests.get(server.url(f"/_test/events?tag={tag}"),
                                                timeout=5).json()
    return result


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- fast tier: the views in process (memory store) ------------------------------------------


@pytest.fixture
def app() -> Flask:
    return create_app(Config(heartbeat_s=0.2, max_stream_s=10, lease_s=1.0, testing=True))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def decode(body: bytes, fmt: str = "ndjson") -> list[Record]:
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [r for r in [*decoder.feed(body), *decoder.close()] if not isinstance(r, Ping)]


@pytest.mark.timeout(20)
def test_a_resumable_stream_carries_its_id_and_replays_from_any_id(client: FlaskClient) -> None:
    first = client.get("/stream/data?count=4&interval=0.01&resumable=1&format=ndjson")
    assert first.status_code == 200
    sid = first.headers["X-Stream-Id"]
    assert len(sid) >= 43
    assert decode(first.data) == [*chunks(4), End(4)]
    by_header = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "2"})
    assert by_header.headers["X-Stream-Id"] == sid
    assert decode(by_header.data) == [*chunks(4)[2:], End(4)]
    by_query = client.get(f"/streams/{sid}?format=sse&last_event_id=3")
    assert decode(by_query.data, "sse") == [chunks(4)[3], End(4)]
    assert client.get(f"/streams/{sid}?format=text").data == b"".join(
        c.data.encode() for c in chunks(4))


@pytest.mark.timeout(20)
def test_the_producer_runs_on_after_its_reader_leaves(client: FlaskClient) -> None:
    response = client.get("/stream/data?count=6&interval=0.05&resumable=1&format=ndjson",
                          buffered=False)
    sid = response.headers["X-Stream-Id"]
    first = next(iter(response.response))
    response.close()  # the only reader is gone
    assert b'"id":1' in first
    rest = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "1"})
    assert decode(rest.data) == [*chunks(6)[1:], End(6)]


@pytest.mark.timeout(20)
def test_the_originating_reader_holds_a_fast_producer_back_until_it_leaves() -> None:
    # A store bound of 5 records and a producer of 200 with no pause: the reader that started
    # the stream still gets all of it (tests/test_openapi.py has the 410 this used to be).
    # Once it leaves, the producer runs free to the end; the bound then keeps only the tail.
    client = create_app(Config(heartbeat_s=0.2, max_stream_s=10, lease_s=1.0,
                               resumable_max_records=5)).test_client()
    whole = client.get("/stream/data?count=200&interval=0&resumable=1&format=ndjson")
    assert decode(whole.data) == [*chunks(200), End(200)]
    left = client.get("/stream/data?count=200&interval=0&resumable=1&format=ndjson",
                      buffered=False)
    sid = left.headers["X-Stream-Id"]
    next(iter(left.response))
    left.close()
    tail = wait_for(lambda: _tail(client, sid), 5, "the producer to finish once free")
    assert tail == [*chunks(200)[196:], End(200)]


def _tail(client: FlaskClient, sid: str) -> list[Record] | None:
    response = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "196"})
    return decode(response.data) if response.status_code == 200 else None


@pytest.mark.timeout(20)
def test_stream_errors_are_json(client: FlaskClient) -> None:
    unknown = client.get("/streams/" + "x" * 43)
    assert unknown.status_code == 404
    assert unknown.json == {"error": {"type": "not_found",
                                      "message": "no such stream (unknown or expired)"}}
    assert client.get("/streams/../etc").status_code == 404
    assert client.delete("/streams/" + "x" * 43).status_code == 404
    sid = client.get("/stream/data?count=1&interval=0&resumable=1").headers["X-Stream-Id"]
    bad = client.get(f"/streams/{sid}", headers={"Last-Event-ID": "two"})
    assert bad.status_code == 400 and bad.json["error"]["type"] == "invalid_last_event_id"
    assert client.get(f"/streams/{sid}?last_event_id=9").status_code == 400
    assert client.delete(f"/streams/{sid}").status_code == 204  # finished: nothing to cancel
    assert client.get("/stream/data?resumable=maybe").status_code == 400


@pytest.mark.timeout(20)
def test_a_resumable_producer_failing_on_open_gets_its_real_status(app: Flask) -> None:
    import gevent

    from streamer.errors import StreamerError
    from streamer.resumable import resumable_response

    def failing() -> Iterator[str]:
        gevent.sleep(0.05)
        raise StreamerError("slow down", type="upstream_rate_limited", status=429,
                            retry_after=2)
        yield "never"

    def slow() -> Iterator[str]:
        gevent.sleep(0.5)  # longer than the 0.2 s heartbeat: goes on detached
        yield "late"

    def empty() -> Iterator[str]:
        return
        yield "never"

    producers = {"failing": failing, "slow": slow, "empty": empty}

    @app.get("/_open/<name>")
    def opened(name: str) -> Any:
        return resumable_response(producers[name]())

    client = app.test_client()
    refused = client.get("/_open/failing")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert refused.json == {"error": {"type": "upstream_rate_limited", "message": "slow down"}}
    assert decode(client.get("/_open/slow?format=ndjson").data) == [Data(1, "late"), End(1)]
    assert decode(client.get("/_open/empty?format=ndjson").data) == [End(0)]


@pytest.mark.timeout(20)
def test_delete_cancels_a_running_stream(client: FlaskClient) -> None:
    response = client.get("/stream/data?count=1000&interval=0.05&resumable=1&format=ndjson",
                          buffered=False)
    sid = response.headers["X-Stream-Id"]
    cancelled = client.delete(f"/streams/{sid}")
    assert cancelled.status_code == 202
    assert cancelled.json == {"id": sid, "status": "cancelled"}
    body = b""
    with pytest.raises(StreamAborted):  # a failed stream is cut, here as in a real server
        for chunk in response.response:
            body += chunk
    response.close()
    got = decode(body)
    assert got[-1] == Error("cancelled", "the stream was cancelled")
    assert not any(isinstance(r, End) for r in got)
    assert client.delete(f"/streams/{sid}").status_code == 204


def test_readiness_names_the_store(client: FlaskClient) -> None:
    assert client.get("/readyz").json == {"status": "ready", "store": "memory"}


# -- real tier: gunicorn instances sharing one Redis -----------------------------------------


@pytest.fixture
def pair(make_server: MakeServer, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    """Two instances, one gevent worker each, sharing one Redis; a short lease for the tests."""
    env = {"REDIS_URL": redis_server.url, "STREAMER_LEASE_S": "1.5",
           "STREAMER_HEARTBEAT_S": "0.5", "WEB_CONCURRENCY": "1",
           "STREAMER_GRACEFUL_TIMEOUT_S": "1"}
    yield make_server(env), make_server(env)


@pytest.mark.real
@pytest.mark.timeout(60)
def test_a_slow_originating_client_on_redis_gets_a_fast_stream_whole(
        make_server: MakeServer, redis_server: RedisServer) -> None:
    # A bound of 20 records, a producer of 3000 with no pause (~100 KB, more than the
    # response's own 64 KiB buffer) and a client that reads 2 KiB at a time: the producer
    # waits for it, through the socket's backpressure, instead of dropping its records.
    server = make_server({"REDIS_URL": redis_server.url, "STREAMER_RESUMABLE_MAX_RECORDS": "20",
                          "STREAMER_HEARTBEAT_S": "0.5"})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET /stream/data?count=3000&interval=0&resumable=1&format=ndjson HTTP/1.1"
                 b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = b""
    with sock:
        while chunk := sock.recv(2048):
            raw += chunk
            time.sleep(0.001)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    text = _unchunk(body).decode()
    records = decode(text.encode())
    assert records == [*chunks(3000), End(3000)], records[-2:]


def _unchunk(body: bytes) -> bytes:
    out, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, rest = out + rest[:size], rest[size + 2:]


def kill_worker(server: Server) -> int:
    pids = server.worker_pids()
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("fmt", "via_query"), [
    pytest.param("ndjson", False, id="ndjson-header"),
    pytest.param("sse", True, id="sse-query"),
])
def test_a_dropped_connection_resumes_on_the_other_instance_exactly_once(
        pair: tuple[Server, Server], fmt: str, via_query: bool) -> None:
    a, b = pair
    reader = Reader(fmt, via_query)
    started = time.monotonic()
    # 40 records, 50 ms apart: the stream is still running when the connection drops.
    finished = reader.read(a.url("/stream/data?count=40&interval=0.05&resumable=1"),
                           stop=lambda r: isinstance(r, Data) and r.id == 5)
    assert not finished and reader.stream_id
    assert reader.first_record_at is not None and reader.first_record_at - started < 1.5
    assert reader.read(b.url(f"/streams/{reader.stream_id}")) is True
    assert reader.records == [*chunks(40), End(40)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_the_readers_worker_killed_resume_elsewhere_gets_every_record_once(
        pair: tuple[Server, Server]) -> None:
    """Case 1 of the module docstring: the producer runs on A; the client reads through B;
    B's worker is SIGKILLed mid-stream; the client resumes on A with Last-Event-ID."""
    a, b = pair
    reader = Reader("ndjson")
    assert not reader.read(a.url("/stream/data?count=60&interval=0.05&resumable=1"),
                           stop=lambda r: isinstance(r, Data) and r.id == 3)
    killed: list[int] = []

    def kill_b_at_10(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 10 and not killed:
            killed.append(kill_worker(b))
        return False  # keep reading: the kill, not the client, must end this connection

    assert reader.read(b.url(f"/streams/{reader.stream_id}"), stop=kill_b_at_10) is False
    assert killed, "B's worker was never killed"
    cut_at = reader.last_id
    assert cut_at < 60, "the stream ended before the kill could cut it"
    assert reader.read(a.url(f"/streams/{reader.stream_id}")) is True
    assert reader.records == [*chunks(60), End(60)]  # every record once, in order, then end


@pytest.mark.real
@pytest.mark.timeout(60)
def test_the_producers_worker_killed_readers_get_producer_lost(
        pair: tuple[Server, Server]) -> None:
    """Case 2: the producer's worker (A) is SIGKILLed; readers on B get ``producer_lost``
    once the 1.5 s lease lapses, and never hang; a later resume gets the same end."""
    a, b = pair
    reader = Reader("ndjson")
    assert not reader.read(a.url("/stream/data?count=1000&interval=0.05&resumable=1"),
                           stop=lambda r: isinstance(r, Data) and r.id == 2)
    killed_at: list[float] = []

    def kill_a_at_8(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 8 and not killed_at:
            kill_worker(a)
            killed_at.append(time.monotonic())
        return False

    assert reader.read(b.url(f"/streams/{reader.stream_id}"), stop=kill_a_at_8) is True
    lost = Error("producer_lost", "the stream's producer stopped responding")
    assert reader.terminal == lost
    # The lease (1.5 s) lapses, then a reader notices within its 0.75 s wait: well under 10.
    assert time.monotonic() - killed_at[0] < 10
    n = reader.last_id
    assert 8 <= n < 1000 and reader.data == chunks(n)
    again = Reader("ndjson")
    assert again.read(b.url(f"/streams/{reader.stream_id}")) is True
    assert again.records == [*chunks(n), lost]


@pytest.mark.real
@pytest.mark.timeout(90)
def test_fifty_readers_of_one_stream_get_identical_records(
        pair: tuple[Server, Server]) -> None:
    a, b = pair
    with requests.get(a.url("/stream/data?count=30&interval=0.1&resumable=1&format=ndjson"),
                      stream=True, timeout=10) as first:
        sid = first.headers["X-Stream-Id"]
    results: dict[int, list[Record]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def read(i: int) -> None:
        try:
            barrier.wait(timeout=20)
            reader = Reader("ndjson" if i % 2 else "sse")
            assert reader.read((a if i % 2 else b).url(f"/streams/{sid}"), timeout=30)
            results[i] = reader.records
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert len(results) == 50
    for records in results.values():
        assert records == [*chunks(30), End(30)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_cancel_on_b_stops_the_producer_on_a_within_one_second(
        pair: tuple[Server, Server]) -> None:
    a, b = pair
    tag = f"cancel-{time.monotonic_ns()}"
    reader = Reader("ndjson")
    assert not reader.read(
        a.url(f"/_test/stream?tag={tag}&count=100000&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 3)
    follower = Reader("sse")
    done = threading.Event()

    def follow() -> None:
        follower.read(b.url(f"/streams/{reader.stream_id}"))
        done.set()

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.3)  # the follower is reading live
    assert [e["event"] for e in events(a, tag)] == ["start"]
    cancelled_at = time.time()
    response = requests.delete(b.url(f"/streams/{reader.stream_id}"), timeout=5)
    assert response.status_code == 202
    finally_events = wait_for(
        lambda: [e for e in events(a, tag) if e["event"] == "finally"], 5,
        "the producer's finally on A")
    assert finally_events[0]["t"] - cancelled_at < 1.0, finally_events[0]["t"] - cancelled_at
    assert done.wait(10), "the follower on B never ended"
    thread.join(5)
    assert follower.terminal == Error("cancelled", "the stream was cancelled")
    assert follower.data == [Data(i, f"item {i}\n") for i in range(1, follower.last_id + 1)]
    assert requests.delete(b.url(f"/streams/{reader.stream_id}"), timeout=5).status_code == 204
    # The id is a capability (read, cancel): it never reaches a log line.
    wait_for(lambda: "stream route=/streams/<stream_id> " in b.log(), 5,
             "the follower's access-log line")
    assert reader.stream_id not in a.log() + b.log()


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_expired_and_unknown_streams_are_404(make_server: MakeServer, backend: str,
                                             request: pytest.FixtureRequest) -> None:
    env = {"STREAMER_STREAM_TTL_S": "1"}
    if backend == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    server = make_server(env)
    assert requests.get(server.url("/readyz"), timeout=5).json()["store"] == backend
    reader = Reader("ndjson")
    assert reader.read(server.url("/stream/data?count=2&interval=0&resumable=1"))
    replay = Reader("ndjson")
    assert replay.read(server.url(f"/streams/{reader.stream_id}"))
    assert replay.records == [*chunks(2), End(2)]
    time.sleep(1.5)
    gone = requests.get(server.url(f"/streams/{reader.stream_id}"), timeout=5)
    assert gone.status_code == 404
    assert gone.headers["Content-Type"] == "application/json"
    assert gone.json()["error"]["type"] == "not_found"
    unknown = requests.get(server.url("/streams/" + "A" * 43), timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
    assert requests.delete(server.url("/streams/" + "A" * 43), timeout=5).status_code == 404


@pytest.mark.real
@pytest.mark.timeout(60)
def test_the_memory_store_bound_refuses_new_streams_with_503(make_server: MakeServer) -> None:
    server = make_server({"STREAMER_RESUMABLE_MAX_STREAMS": "1"})
    reader = Reader("ndjson")
    assert not reader.read(server.url("/stream/data?count=1000&interval=0.05&resumable=1"),
                           stop=lambda r: True)
    refused = requests.get(server.url("/stream/data?count=1&resumable=1"), timeout=5)
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "too_many_streams"
    assert int(refused.headers["Retry-After"]) >= 1
    assert requests.delete(server.url(f"/streams/{reader.stream_id}"),
                           timeout=5).status_code == 202
    # The cancelled (finished) stream makes room for a new one.
    assert Reader("ndjson").read(server.url("/stream/data?count=1&resumable=1"))


@pytest.mark.real
@pytest.mark.timeout(90)
def test_a_redis_restart_mid_stream_ends_readers_clearly(make_server: MakeServer,
                                                         fresh_redis: RedisServer) -> None:
    server = make_server({"REDIS_URL": fresh_redis.url, "STREAMER_REDIS_TIMEOUT_S": "0.5",
                          "STREAMER_LEASE_S": "1.5", "STREAMER_HEARTBEAT_S": "0.5"})
    reader = Reader("ndjson")
    stopped_at: list[float] = []

    def stop_redis_at_5(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 5 and not stopped_at:
            fresh_redis.stop()
            stopped_at.append(time.monotonic())
        return False

    finished = reader.read(server.url("/stream/data?count=1000&interval=0.05&resumable=1"),
                           stop=stop_redis_at_5)
    # A clear end, soon: an error record, never a silent hang and never a false `end`.
    assert time.monotonic() - stopped_at[0] < 10
    assert finished and isinstance(reader.terminal, Error), reader.records[-3:]
    assert reader.terminal.type == "store_unavailable"
    assert reader.data == chunks(reader.last_id)
    down = requests.get(server.url("/readyz"), timeout=10)
    assert down.status_code == 503 and down.json()["status"] == "unavailable"

    fresh_redis.start()
    # No persistence: the stream is gone, and a resume says so; new streams work again.
    gone = requests.get(server.url(f"/streams/{reader.stream_id}"),
                        headers={"Last-Event-ID": str(reader.last_id)}, timeout=10)
    assert gone.status_code == 404
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    again = Reader("ndjson")
    assert again.read(server.url("/stream/data?count=3&interval=0&resumable=1"))
    assert again.records == [*chunks(3), End(3)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_unreachable_redis_is_503_json_within_a_bounded_time(make_server: MakeServer) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server({"REDIS_URL": f"redis://127.0.0.1:{port}/0",
                          "STREAMER_REDIS_TIMEOUT_S": "1"})
    start = time.monotonic()
    ready = requests.get(server.url("/readyz"), timeout=10)
    assert ready.status_code == 503
    assert ready.json()["store"] == "redis" and ready.json()["status"] == "unavailable"
    refused = requests.get(server.url("/stream/data?count=3&resumable=1"), timeout=10)
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert refused.headers["Content-Type"] == "application/json"
    assert json.loads(refused.text)["error"]["type"] == "store_unavailable"
    resume = requests.get(server.url("/streams/" + "A" * 43), timeout=10)
    assert resume.status_code == 503
    assert time.monotonic() - start < 10
    # Plain streams do not need the store.
    plain = requests.get(server.url("/stream/data?count=2&interval=0"), timeout=10)
    assert plain.status_code == 200 and plain.text == "data chunk 1\ndata chunk 2\n"
