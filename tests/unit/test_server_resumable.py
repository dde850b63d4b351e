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

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from streamer.errors import NotFound
from streamer.server.resumable import TOKEN_EXPIRED, follow
from streamer.service.settings import ServiceConfig
from streamer.store import STORE_LOST, new_stream_id
from streamer.store.memory import MemoryStore
from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End, Ping, Record


def chunks(n: int) -> list[Data]:
    return [Data(i, f"data chunk {i}\n") for i in range(1, n + 1)]


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
    return create_app(ServiceConfig(heartbeat_s=0.2, max_stream_s=10, lease_s=1.0, testing=True))


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
        c.data.encode() for c in chunks(4)
    )


@pytest.mark.timeout(20)
def test_the_producer_runs_on_after_its_reader_leaves(client: FlaskClient) -> None:
    response = client.get(
        "/stream/data?count=6&interval=0.05&resumable=1&format=ndjson", buffered=False
    )
    sid = response.headers["X-Stream-Id"]
    first = next(iter(response.response))
    response.close()  # the only reader is gone
    assert b'"id":1' in first
    rest = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "1"})
    assert decode(rest.data) == [*chunks(6)[1:], End(6)]


def _tail(client: FlaskClient, sid: str) -> list[Record] | None:
    response = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "196"})
    return decode(response.data) if response.status_code == 200 else None


@pytest.mark.timeout(20)
def test_a_resumable_producer_failing_on_open_gets_its_real_status(app: Flask) -> None:
    import gevent

    from streamer.errors import StreamerError
    from streamer.server.resumable import resumable_response

    def failing() -> Iterator[str]:
        gevent.sleep(0.05)
        raise StreamerError("slow down", type="upstream_rate_limited", status=429, retry_after=2)
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
def test_a_detached_stream_runs_with_no_reader_and_is_found_by_its_name(app: Flask) -> None:
    import gevent

    from streamer.server.resumable import start_detached
    from streamer.server.state import current_state

    def job() -> Iterator[str]:
        for i in range(200):
            yield f"row {i}"
            gevent.sleep(0)

    @app.post("/_jobs/<name>")
    def start(name: str) -> Any:
        started = start_detached(job(), name=name)
        assert isinstance(started, str)
        return {"id": started, "named": current_state().store.named(name)}

    client = app.test_client()
    body = client.post("/_jobs/report-7").get_json()
    assert body["id"] == body["named"]
    done = wait_for(lambda: _tail(client, body["id"]), 10, "the job to finish")
    assert done[-1] == End(200)


def test_readiness_names_the_store(client: FlaskClient) -> None:
    assert client.get("/readyz").json == {"status": "ready", "store": "memory"}


# -- real tier: gunicorn instances sharing one Redis -----------------------------------------


# -- a stream its store lost (Redis restarted empty) -----------------------------------------


class _LosingStore(MemoryStore):
    """The memory store, claiming it can lose streams as Redis can: dropping a stream by hand
    then stands for a restart without persistence."""

    can_lose_streams = True


@pytest.mark.timeout(10)
def test_a_followed_stream_that_a_store_lost_ends_in_band_with_store_lost() -> None:
    store = _LosingStore(ServiceConfig())
    sid = new_stream_id()
    store.create(sid)
    store.append(sid, Data(1, "r1"))
    reader = follow(store, sid, 0, block_s=0.01)
    assert next(reader) == Data(1, "r1")
    store._drop(sid)  # Redis came back empty; the owner has not noticed yet
    assert list(reader) == [STORE_LOST]


@pytest.mark.timeout(10)
def test_a_stream_gone_before_a_reader_saw_it_is_not_found_and_memory_never_says_lost() -> None:
    lossy, memory = _LosingStore(ServiceConfig()), MemoryStore(ServiceConfig())
    with pytest.raises(NotFound):
        next(follow(lossy, new_stream_id(), 0, block_s=0.01))  # a 404 before the first byte
    sid = new_stream_id()
    memory.create(sid)
    memory.append(sid, Data(1, "r1"))
    reader = follow(memory, sid, 0, block_s=0.01)
    assert next(reader) == Data(1, "r1")
    memory._drop(sid)  # the memory store only drops what expired or was evicted: unchanged
    with pytest.raises(NotFound):
        next(reader)


@pytest.mark.timeout(10)
def test_a_reader_with_a_deadline_ends_in_band_with_token_expired_and_waits_no_longer() -> None:
    store = MemoryStore(ServiceConfig())
    sid = new_stream_id()
    store.create(sid)
    store.append(sid, Data(1, "r1"))
    began = time.time()
    reader = follow(store, sid, 0, block_s=5.0, until=began + 0.3)
    assert next(reader) == Data(1, "r1")
    # The stream is silent: the wait is cut at the deadline, not at block_s.
    rest = list(reader)
    assert rest == [TOKEN_EXPIRED] and rest[0].type == "token_expired"
    assert 0.25 < time.time() - began < 2
    # A deadline already past: nothing but the error, before any record.
    assert list(follow(store, sid, 0, block_s=0.01, until=time.time() - 1)) == [TOKEN_EXPIRED]
