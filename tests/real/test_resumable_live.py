"""Real tier of tests/unit/test_server_resumable.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

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

from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End, Error, Ping, Record

from ..conftest import Server
from ..ports import free_port
from ..redis_fixture import RedisServer, fresh_redis, redis_server
from ..unit.test_server_resumable import chunks, decode, wait_for

__all__ = ["fresh_redis", "redis_server"]  # fixtures, imported for pytest

MakeServer = Callable[..., Server]


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

    def read(
        self, url: str, stop: Callable[[Record], bool] | None = None, timeout: float = 15.0
    ) -> bool:
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
    result: list[dict[str, Any]] = requests.get(
        server.url(f"/_test/events?tag={tag}"), timeout=5
    ).json()
    return result


@pytest.fixture
def pair(make_server: MakeServer, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    """Two instances, one gevent worker each, sharing one Redis; a short lease for the tests."""
    env = {
        "REDIS_URL": redis_server.url,
        "STREAMER_LEASE_S": "1.5",
        "STREAMER_HEARTBEAT_S": "0.5",
        "WEB_CONCURRENCY": "1",
        "STREAMER_GRACEFUL_TIMEOUT_S": "1",
    }
    yield make_server(env), make_server(env)


@pytest.mark.real
@pytest.mark.timeout(60)
def test_a_slow_originating_client_on_redis_gets_a_fast_stream_whole(
    make_server: MakeServer, redis_server: RedisServer
) -> None:
    # A bound of 20 records, a producer of 3000 with no pause (~100 KB, more than the
    # response's own 64 KiB buffer) and a client that reads 2 KiB at a time: the producer
    # waits for it, through the socket's backpressure, instead of dropping its records.
    server = make_server(
        {
            "REDIS_URL": redis_server.url,
            "STREAMER_RESUMABLE_MAX_RECORDS": "20",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        b"GET /stream/data?count=3000&interval=0&resumable=1&format=ndjson HTTP/1.1"
        b"\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
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
        out, rest = out + rest[:size], rest[size + 2 :]


def kill_worker(server: Server) -> int:
    pids = server.worker_pids()
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fmt", "via_query"),
    [
        pytest.param("ndjson", False, id="ndjson-header"),
        pytest.param("sse", True, id="sse-query"),
    ],
)
def test_a_dropped_connection_resumes_on_the_other_instance_exactly_once(
    pair: tuple[Server, Server], fmt: str, via_query: bool
) -> None:
    a, b = pair
    reader = Reader(fmt, via_query)
    started = time.monotonic()
    # 40 records, 50 ms apart: the stream is still running when the connection drops.
    finished = reader.read(
        a.url("/stream/data?count=40&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 5,
    )
    assert not finished and reader.stream_id
    assert reader.first_record_at is not None and reader.first_record_at - started < 1.5
    assert reader.read(b.url(f"/streams/{reader.stream_id}")) is True
    assert reader.records == [*chunks(40), End(40)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_the_readers_worker_killed_resume_elsewhere_gets_every_record_once(
    pair: tuple[Server, Server],
) -> None:
    """Case 1 of the module docstring: the producer runs on A; the client reads through B;
    B's worker is SIGKILLed mid-stream; the client resumes on A with Last-Event-ID."""
    a, b = pair
    reader = Reader("ndjson")
    assert not reader.read(
        a.url("/stream/data?count=60&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 3,
    )
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
def test_the_producers_worker_killed_readers_get_producer_lost(pair: tuple[Server, Server]) -> None:
    """Case 2: the producer's worker (A) is SIGKILLed; readers on B get ``producer_lost``
    once the 1.5 s lease lapses, and never hang; a later resume gets the same end."""
    a, b = pair
    reader = Reader("ndjson")
    assert not reader.read(
        a.url("/stream/data?count=1000&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 2,
    )
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
def test_fifty_readers_of_one_stream_get_identical_records(pair: tuple[Server, Server]) -> None:
    a, b = pair
    with requests.get(
        a.url("/stream/data?count=30&interval=0.1&resumable=1&format=ndjson"),
        stream=True,
        timeout=10,
    ) as first:
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
def test_cancel_on_b_stops_the_producer_on_a_within_one_second(pair: tuple[Server, Server]) -> None:
    a, b = pair
    tag = f"cancel-{time.monotonic_ns()}"
    reader = Reader("ndjson")
    assert not reader.read(
        a.url(f"/_test/stream?tag={tag}&count=100000&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 3,
    )
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
        lambda: [e for e in events(a, tag) if e["event"] == "finally"],
        5,
        "the producer's finally on A",
    )
    assert finally_events[0]["t"] - cancelled_at < 1.0, finally_events[0]["t"] - cancelled_at
    assert done.wait(10), "the follower on B never ended"
    thread.join(5)
    assert follower.terminal == Error("cancelled", "the stream was cancelled")
    assert follower.data == [Data(i, f"item {i}\n") for i in range(1, follower.last_id + 1)]
    assert requests.delete(b.url(f"/streams/{reader.stream_id}"), timeout=5).status_code == 204
    # The id is a capability (read, cancel): it never reaches a log line.
    wait_for(
        lambda: "stream route=/streams/<stream_id> " in b.log(), 5, "the follower's access-log line"
    )
    assert reader.stream_id not in a.log() + b.log()


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_expired_and_unknown_streams_are_404(
    make_server: MakeServer, backend: str, request: pytest.FixtureRequest
) -> None:
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
    assert not reader.read(
        server.url("/stream/data?count=1000&interval=0.05&resumable=1"), stop=lambda r: True
    )
    refused = requests.get(server.url("/stream/data?count=1&resumable=1"), timeout=5)
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "too_many_streams"
    assert int(refused.headers["Retry-After"]) >= 1
    assert requests.delete(server.url(f"/streams/{reader.stream_id}"), timeout=5).status_code == 202
    # The cancelled (finished) stream makes room for a new one.
    assert Reader("ndjson").read(server.url("/stream/data?count=1&resumable=1"))


@pytest.mark.real
@pytest.mark.timeout(90)
def test_a_redis_restart_mid_stream_ends_readers_clearly(
    make_server: MakeServer, fresh_redis: RedisServer
) -> None:
    server = make_server(
        {
            "REDIS_URL": fresh_redis.url,
            "STREAMER_REDIS_TIMEOUT_S": "0.5",
            "STREAMER_LEASE_S": "1.5",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    reader = Reader("ndjson")
    stopped_at: list[float] = []

    def stop_redis_at_5(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 5 and not stopped_at:
            fresh_redis.stop()
            stopped_at.append(time.monotonic())
        return False

    finished = reader.read(
        server.url("/stream/data?count=1000&interval=0.05&resumable=1"), stop=stop_redis_at_5
    )
    # A clear end, soon: an error record, never a silent hang and never a false `end`.
    assert time.monotonic() - stopped_at[0] < 10
    assert finished and isinstance(reader.terminal, Error), reader.records[-3:]
    assert reader.terminal.type == "store_unavailable"
    assert reader.data == chunks(reader.last_id)
    down = requests.get(server.url("/readyz"), timeout=10)
    assert down.status_code == 503 and down.json()["status"] == "unavailable"

    # Away longer than the lease: the producer gave up (it writes nothing while the store is
    # unreachable), so once Redis is back nobody knows the stream existed. A shorter restart,
    # with the producer still running: test_a_redis_restart_under_a_running_producer_...
    time.sleep(max(0.0, 1.5 + 1.0 - (time.monotonic() - stopped_at[0])))
    fresh_redis.start()
    # No persistence: the stream is gone, and a resume says so; new streams work again.
    gone = requests.get(
        server.url(f"/streams/{reader.stream_id}"),
        headers={"Last-Event-ID": str(reader.last_id)},
        timeout=10,
    )
    assert gone.status_code == 404
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    again = Reader("ndjson")
    assert again.read(server.url("/stream/data?count=3&interval=0&resumable=1"))
    assert again.records == [*chunks(3), End(3)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_unreachable_redis_is_503_json_within_a_bounded_time(make_server: MakeServer) -> None:
    port = free_port()  # nobody listens on it
    server = make_server(
        {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "STREAMER_REDIS_TIMEOUT_S": "1"}
    )
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


STORE_LOST = Error(
    "store_lost", "the stream store lost this stream (it restarted empty or was flushed)"
)


def read_all(response: requests.Response) -> bytes:
    """The body of a streamed response; a failed stream ends without the chunked terminator
    (docs/design.md, rule 1), which requests reports as an error after the last bytes."""
    body = b""
    try:
        for chunk in response.iter_content(chunk_size=None):
            body += chunk
    except requests.exceptions.ChunkedEncodingError:
        pass
    return body


def _resume(server: Server, sid: str, last_id: int, fmt: str) -> tuple[int, list[Record]]:
    """A resume after ``last_id``: its status and records. A 404 only in the moment before
    the producer noticed (it then tries again)."""
    deadline = time.monotonic() + 8
    while True:
        with requests.get(
            server.url(f"/streams/{sid}?format={fmt}"),
            headers={"Last-Event-ID": str(last_id)} if last_id else {},
            stream=True,
            timeout=10,
        ) as response:
            body = read_all(response)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response.status_code, decode(body, fmt)
        time.sleep(0.1)


@pytest.mark.real
@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["restart", "flushall"])
def test_a_redis_restart_under_a_running_producer_ends_the_stream_in_band(
    make_server: MakeServer, fresh_redis: RedisServer, how: str
) -> None:
    """Redis comes back empty while the producer still runs: the records before are gone, so
    the stream cannot continue. The producer stops; the live reader ends with an in-band error
    (``store_lost``; or, if it met the restart itself, ``store_unavailable``), never a hang or a
    clean end; a resume, before or after the producer stopped, is a 200 with ``store_lost``."""
    import redis

    server = make_server(
        {
            "REDIS_URL": fresh_redis.url,
            "STREAMER_REDIS_TIMEOUT_S": "0.5",
            "STREAMER_LEASE_S": "3",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    tag = f"lost-{how}"
    reader = Reader("ndjson")
    follower = Reader("ndjson")
    lost_at: list[float] = []
    follower_done: list[bool] = []

    def lose_redis_at_5(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 5 and not lost_at:
            assert reader.stream_id is not None
            follower_thread = threading.Thread(
                target=lambda: follower_done.append(
                    follower.read(server.url(f"/streams/{reader.stream_id}"), timeout=10)
                )
            )
            follower_thread.start()  # a second reader, following live from the start
            wait_for(lambda: len(follower.data) >= 5, 10, "the follower to catch up")
            if how == "restart":
                fresh_redis.stop()
                fresh_redis.start()
            else:
                client = redis.Redis.from_url(fresh_redis.url)
                client.flushall()
                client.close()
            lost_at.append(time.monotonic())
        return False

    finished = reader.read(
        server.url(f"/_test/stream?count=1000&interval=0.1&resumable=1&tag={tag}"),
        stop=lose_redis_at_5,
        timeout=10,
    )
    assert lost_at, reader.records[-3:]
    assert finished and time.monotonic() - lost_at[0] < 5
    wait_for(lambda: follower_done, 10, "the follower to finish")
    assert follower_done == [True] and time.monotonic() - lost_at[0] < 5
    expected = {"store_lost"} if how == "flushall" else {"store_lost", "store_unavailable"}
    for who in (reader, follower):
        assert isinstance(who.terminal, Error), who.records[-3:]
        assert who.terminal.type in expected, who.terminal
        assert who.data == [Data(i, f"item {i}\n") for i in range(1, who.last_id + 1)]
    # The producer stopped (its finally ran), without running to its end.
    seen = wait_for(
        lambda: [e["event"] for e in events(server, tag) if e["event"] != "start"] or None,
        10,
        "the producer to stop",
    )
    assert seen == ["finally"], seen
    # Resumes, from where the reader was, in any format: the end, in-band.
    assert reader.stream_id is not None
    for fmt, after in (("ndjson", reader.last_id), ("sse", reader.last_id), ("ndjson", 0)):
        assert _resume(server, reader.stream_id, after, fmt) == (200, [STORE_LOST])
    # store_lost is numbered one past the data the producer wrote: an EventSource that saw it
    # there is told to stop (204), and past it is past the end.
    client = redis.Redis.from_url(fresh_redis.url)
    end_id = int(client.hget(f"streamer:{{{reader.stream_id}}}:meta", "last") or 0)
    client.close()
    assert end_id > reader.last_id
    assert _resume(server, reader.stream_id, end_id, "sse") == (204, [])
    assert _resume(server, reader.stream_id, end_id + 1, "sse")[0] == 400
    # New streams work again.
    fresh = Reader("ndjson")
    assert fresh.read(server.url("/stream/data?count=3&interval=0&resumable=1"))
    assert fresh.records == [*chunks(3), End(3)]
