"""Fast tier of streamer.server.durable.reads: catch-up, ETag and 304, offset=now, long-poll
and SSE through Flask's test client."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamer import Streamer

TEXT = {"Content-Type": "text/plain"}


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    app.config.update(
        STREAMER_DURABLE=True,
        STREAMER_DURABLE_LONG_POLL_S=0.2,
        STREAMER_DURABLE_SSE_MAX_S=0.5,
        STREAMER_DURABLE_MAX_READ_BYTES=1024,
    )
    Streamer(app)
    return app.test_client()


def test_catch_up_etag_and_eof(client: FlaskClient) -> None:
    client.put("/v1/stream/s", data=b"ab", headers=TEXT)
    read = client.get("/v1/stream/s?offset=-1")
    assert read.data == b"ab" and read.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in read.headers
    again = client.get("/v1/stream/s?offset=-1", headers={"If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    client.post("/v1/stream/s", headers={"Stream-Closed": "true"})
    tail = read.headers["Stream-Next-Offset"]
    eof = client.get(f"/v1/stream/s?offset={tail}")
    assert eof.data == b"" and eof.headers["Stream-Closed"] == "true"
    # Closing changed the ETag of the range that reaches the end: no 304 hides the EOF.
    closed = client.get("/v1/stream/s?offset=-1", headers={"If-None-Match": read.headers["ETag"]})
    assert closed.status_code == 200 and closed.headers["ETag"] != read.headers["ETag"]


def test_a_big_range_comes_in_chunks(client: FlaskClient) -> None:
    client.put("/v1/stream/big", headers=TEXT)
    for _ in range(3):
        client.post("/v1/stream/big", data=b"x" * 800, headers=TEXT)
    first = client.get("/v1/stream/big?offset=-1")
    assert len(first.data) < 2400 and "Stream-Up-To-Date" not in first.headers
    rest = client.get(f"/v1/stream/big?offset={first.headers['Stream-Next-Offset']}")
    assert len(first.data) + len(rest.data) <= 2400


@pytest.mark.parametrize("query", ["offset=", "offset=a&offset=b", "offset=zz", "live=sse"])
def test_bad_offsets_are_400(client: FlaskClient, query: str) -> None:
    client.put("/v1/stream/o", headers=TEXT)
    response = client.get(f"/v1/stream/o?{query}")
    assert response.status_code == 400 and response.get_json()["error"]["message"]


def test_offset_now_and_json_mode(client: FlaskClient) -> None:
    client.put(
        "/v1/stream/j", data=b'[{"a":1},{"b":2}]', headers={"Content-Type": "application/json"}
    )
    now = client.get("/v1/stream/j?offset=now")
    assert now.data == b"[]" and now.headers["Cache-Control"] == "no-store"
    assert client.get("/v1/stream/j?offset=-1").get_json() == [{"a": 1}, {"b": 2}]


def test_a_long_poll_times_out_with_a_204_and_a_cursor(client: FlaskClient) -> None:
    tail = client.put("/v1/stream/lp", headers=TEXT).headers["Stream-Next-Offset"]
    started = time.monotonic()
    waited = client.get(f"/v1/stream/lp?offset={tail}&live=long-poll")
    assert 0.15 < time.monotonic() - started < 3
    assert waited.status_code == 204 and waited.headers["Stream-Cursor"].isdigit()
    assert waited.headers["Stream-Up-To-Date"] == "true"


def test_sse_base64_for_binary_and_the_close(client: FlaskClient) -> None:
    client.put(
        "/v1/stream/b",
        data=b"\x00\xff",
        headers={"Content-Type": "application/octet-stream", "Stream-Closed": "true"},
    )
    response = client.get("/v1/stream/b?offset=-1&live=sse")
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Stream-SSE-Data-Encoding"] == "base64"
    text = response.get_data(as_text=True)
    encoded = base64.b64encode(b"\x00\xff").decode()
    assert f"data:{encoded}\n" in text
    assert text.rstrip().endswith('"streamClosed":true,"upToDate":true}')


def test_an_sse_read_is_an_open_stream_that_a_stopping_worker_ends() -> None:
    from streamer.server.state import state_of

    app = Flask(__name__)
    app.config.update(STREAMER_DURABLE=True)  # waits of 30 s, SSE for 60 s
    Streamer(app)
    client = app.test_client()
    registry = state_of(app).registry
    client.put("/v1/stream/open", headers=TEXT)
    response = client.get("/v1/stream/open?offset=-1&live=sse", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    assert b'"upToDate":true' in first and len(registry) == 1
    registry.shutdown_all()
    started = time.monotonic()
    assert list(chunks) == []  # ends within its next wait step, without a closed event
    assert time.monotonic() - started < 1.5 and len(registry) == 0
    response.close()


def _in_thread(call: Callable[[], Any]) -> Callable[[float], Any]:
    """Run ``call`` in a thread (the memory store waits on a real condition: the test
    client's thread blocks); the returned function joins it, at most ``timeout`` seconds."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()

    def result(timeout: float) -> Any:
        thread.join(timeout)
        assert box, f"no answer within {timeout} s"
        return box[0]

    return result


def _until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.timeout(20)
def test_a_waiting_long_poll_is_an_open_stream_that_a_stopping_worker_answers() -> None:
    from streamer.server.state import state_of

    app = Flask(__name__)
    app.config.update(STREAMER_DURABLE=True)  # waits of 30 s
    Streamer(app)
    client = app.test_client()
    registry = state_of(app).registry
    tail = client.put("/v1/stream/lp", headers=TEXT).headers["Stream-Next-Offset"]
    poll = _in_thread(lambda: client.get(f"/v1/stream/lp?offset={tail}&live=long-poll"))
    _until(lambda: len(registry) == 1)  # waiting, counted
    # An append wakes it at once (not at its next one-second step).
    woke = time.monotonic()
    client.post("/v1/stream/lp", data=b"x", headers=TEXT)
    answer = poll(5)
    assert answer.status_code == 200 and answer.data == b"x"
    assert time.monotonic() - woke < 0.5
    _until(lambda: len(registry) == 0)
    # A stopping worker answers a waiting long-poll within a second: its 204.
    tail = answer.headers["Stream-Next-Offset"]
    poll = _in_thread(lambda: client.get(f"/v1/stream/lp?offset={tail}&live=long-poll"))
    _until(lambda: len(registry) == 1)
    registry.shutdown_all()
    stopped = time.monotonic()
    answer = poll(5)
    assert answer.status_code == 204 and time.monotonic() - stopped < 1.5
    refused = client.get(f"/v1/stream/lp?offset={tail}&live=long-poll")
    assert refused.status_code == 503 and refused.get_json()["error"]["type"] == "shutdown"


def test_a_full_worker_refuses_an_sse_read_with_a_503() -> None:
    app = Flask(__name__)
    app.config.update(STREAMER_DURABLE=True, STREAMER_MAX_STREAMS=1)
    Streamer(app)
    client = app.test_client()
    client.put("/v1/stream/full", headers=TEXT)
    held = client.get("/v1/stream/full?offset=-1&live=sse", buffered=False)
    next(iter(held.response))  # the first reader holds the worker's one stream
    refused = client.get("/v1/stream/full?offset=-1&live=sse")
    assert refused.status_code == 503 and refused.get_json()["error"]["type"] == "too_many_streams"
    assert refused.headers["Retry-After"] == "1"
    tail = client.head("/v1/stream/full").headers["Stream-Next-Offset"]
    poll = client.get(f"/v1/stream/full?offset={tail}&live=long-poll")  # it would wait
    assert poll.status_code == 503 and poll.get_json()["error"]["type"] == "too_many_streams"
    held.close()
