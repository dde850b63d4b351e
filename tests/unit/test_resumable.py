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
from streamer.config import Config
from streamer.decoders import NDJSONDecoder, SSEDecoder
from streamer.records import Data, End, Error, Ping, Record
from streamer.response import StreamAborted


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
    # the stream still gets all of it (tests/unit/test_openapi.py has the 410 this used to be).
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


