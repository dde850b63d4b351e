"""Fast tier of streamer.engine.ending: how a stream ends (an error record after the first item,
close() running the producer's finally at once)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest
from flask.testing import FlaskClient

from streamer._compat.gevent import raw_socket
from streamer.engine import StreamBody, ending
from streamer.errors import UpstreamError
from streamer.server.response import StreamAborted
from streamer.wire.framing import NDJSON
from streamer.wire.records import Data, End, Error

from .test_server_response import (  # the views and fixtures of the response tests
    make_view_app,
    records,
)


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_failure_after_first_item_writes_error_and_no_end(client: FlaskClient, fmt: str) -> None:
    response = client.get(f"/_test/stream?count=5&fail_after=3&format={fmt}")
    assert response.status_code == 200
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    got = records(body, fmt)
    assert got[-1] == Error("internal_error", "internal error")
    assert [r.id for r in got if isinstance(r, Data)] == [1, 2, 3]
    assert not any(isinstance(r, End) for r in got)


def test_text_failure_after_first_item_aborts(client: FlaskClient) -> None:
    response = client.get("/_test/stream?count=5&fail_after=2")
    with pytest.raises(StreamAborted):
        b"".join(response.response)


def test_streamer_error_after_first_item_keeps_its_type() -> None:
    def producer() -> Iterator[str]:
        yield "a"
        raise UpstreamError("upstream went away", type="upstream_disconnected")

    response = make_view_app(producer).get("/p?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    assert records(body)[-1] == Error("upstream_disconnected", "upstream went away")


def test_closing_the_response_runs_the_producers_finally() -> None:
    state: list[str] = []

    def producer() -> Iterator[str]:
        try:
            yield "first"
            gevent.sleep(60)
            yield "never"
        finally:
            state.append("finally")

    response = make_view_app(producer).get("/p")
    it = iter(response.response)
    assert next(it) == b"first"
    started = time.monotonic()
    response.close()
    gevent.sleep(0)
    assert state == ["finally"]
    assert time.monotonic() - started < 0.1


# -- the cut after an error record waits for the client to close --------------------
# streamer.engine.ending: after an ``error`` record the connection is cut only once the
# client closed it (or after a grace period). Cut at once, a browser may drop the record it had
# not yet handed to the page: Chromium's fetch body errors as soon as the network reports the
# broken body, discarding what it still holds (tests/real/test_page.py saw it under load).

ERROR = b'{"event":"error","error":{"type":"internal_error","message":"internal error"}}\n'
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT


def failing() -> Iterator[str]:
    yield "a"
    raise RuntimeError("boom")


def serve(body: StreamBody, out: list[bytes]) -> None:
    """What the WSGI server does: iterate the body, then close it."""
    try:
        out.extend(body)
    finally:
        body.close()


def at_eof(sock: gevent.socket.socket) -> bool:
    try:
        return raw_socket(sock).recv(1, _PEEK) == b""
    except BlockingIOError:
        return False


@pytest.fixture
def pair() -> Iterator[tuple[gevent.socket.socket, gevent.socket.socket]]:
    server, client = gevent.socket.socketpair()
    yield server, client
    server.close()
    client.close()


@pytest.mark.timeout(20)
def test_the_cut_waits_for_the_reader_to_close(
    pair: tuple[gevent.socket.socket, gevent.socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ending, "CUT_GRACE_S", 60.0)  # far beyond this test's waits
    server, client = pair
    body = StreamBody(failing(), NDJSON, heartbeat_s=5, max_stream_s=60, sock=server)
    body.wait_first(5)
    out: list[bytes] = []
    handler = gevent.spawn(serve, body, out)
    gevent.wait([handler], timeout=0.5)
    assert out and out[-1] == ERROR
    # The record is out; the reader may still be reading it: no cut yet, whatever it sends.
    client.sendall(b"GET /next HTTP/1.1\r\n\r\n")
    gevent.wait([handler], timeout=0.3)
    assert not handler.ready() and not at_eof(client)
    client.shutdown(socket.SHUT_WR)  # the reader is done with the stream
    handler.join(timeout=5)
    assert handler.successful()
    assert body.stats.outcome == "error"


@pytest.mark.timeout(20)
def test_a_reader_that_keeps_the_connection_is_cut_after_the_grace(
    pair: tuple[gevent.socket.socket, gevent.socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ending, "CUT_GRACE_S", 0.2)
    server, client = pair
    body = StreamBody(failing(), NDJSON, heartbeat_s=5, max_stream_s=60, sock=server)
    body.wait_first(5)
    out: list[bytes] = []
    handler = gevent.spawn(serve, body, out)
    handler.join(timeout=10)
    assert handler.successful() and out[-1] == ERROR
    assert at_eof(client)  # cut: shut down without the chunked terminator


def _records(n: int) -> Iterator[str]:
    yield from (str(i) for i in range(n))


def _left_early() -> Iterator[str]:
    yield "a"
    gevent.sleep(60)  # the client leaves meanwhile
    yield "b"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("ending_", ["complete", "error", "disconnect"])
@pytest.mark.parametrize("send_timeout_s", [0.0, 30.0])
def test_a_finished_stream_is_freed_without_the_collector(
    pair: tuple[gevent.socket.socket, gevent.socket.socket],
    monkeypatch: pytest.MonkeyPatch,
    ending_: str,
    send_timeout_s: float,
) -> None:
    """No reference cycle through the disconnect watcher or the send guard (each holds a
    bound method of the body): thousands of finished streams must not wait, as garbage, for
    a full collection, which streamer.worker makes rare."""
    import gc
    import weakref

    monkeypatch.setattr(ending, "CUT_GRACE_S", 0.05)
    # pytest keeps every log record, and the failure's record holds its traceback's frames.
    monkeypatch.setattr(logging.getLogger("streamer"), "disabled", True)
    server, client = pair
    make = {"complete": lambda: _records(3), "error": failing, "disconnect": _left_early}
    producer = make[ending_]()
    # The body itself takes no weak reference (__slots__); the producer lives exactly as long.
    gone = weakref.ref(producer)
    body = StreamBody(
        producer, NDJSON, heartbeat_s=5, max_stream_s=60, sock=server, send_timeout_s=send_timeout_s
    )
    body.wait_first(5)
    out: list[bytes] = []
    handler = gevent.spawn(serve, body, out)
    if ending_ == "disconnect":
        gevent.wait([handler], timeout=0.2)
        client.close()
    handler.join(timeout=10)
    assert handler.successful()
    assert body.stats.outcome == ending_
    gc.disable()
    try:
        del body, handler, producer
        gevent.sleep(0.05)  # the pump greenlet, if any, finishes
        assert gone() is None
    finally:
        gc.enable()
