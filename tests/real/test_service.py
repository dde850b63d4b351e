"""Real tier: the service under gunicorn with a gevent worker, over loopback sockets."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import pytest
import requests

from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End, Error, Ping

from ..conftest import Server

pytestmark = pytest.mark.real


def raw_get(server: Server, path: str, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        assert len(data) < limit
    return data


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def events(server: Server, tag: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = requests.get(
        server.url(f"/_test/events?tag={tag}"), timeout=5
    ).json()
    return result


def decode(fmt: str, body: bytes) -> list[Any]:
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [r for r in [*decoder.feed(body), *decoder.close()] if not isinstance(r, Ping)]


@pytest.mark.timeout(20)
def test_chunked_on_the_wire_with_a_terminator(server: Server) -> None:
    with raw_get(server, "/stream/data?count=3&interval=0") as sock:
        data = read_until(sock, b"0\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"HTTP/1.1 200" in head
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-length" not in head.lower()
    assert body.endswith(b"\r\n0\r\n\r\n")
    assert b"data chunk 3\n" in body


@pytest.mark.timeout(20)
def test_first_chunk_arrives_well_before_the_last(server: Server) -> None:
    start = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    with requests.get(
        server.url("/stream/data?count=5&interval=0.3"), stream=True, timeout=10
    ) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        for chunk in response.iter_content(chunk_size=None):
            arrivals.append((time.monotonic() - start, chunk))
    body = b"".join(c for _, c in arrivals)
    assert body == b"".join(f"data chunk {i}\n".encode() for i in range(1, 6))
    # The producer needs 1.2 s for all five; the first must not wait for them.
    assert arrivals[0][0] < 0.6, arrivals
    assert arrivals[-1][0] >= 1.1
    assert len(arrivals) >= 4


@pytest.mark.timeout(60)
def test_200_concurrent_slow_streams_flow_at_once(server: Server) -> None:
    n, count, interval = 200, 5, 0.4
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    bodies: dict[int, bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)
    start = time.monotonic()

    def client(i: int) -> None:
        try:
            barrier.wait(timeout=20)
            with requests.get(
                server.url(f"/stream/data?count={count}&interval={interval}"),
                stream=True,
                timeout=20,
            ) as response:
                body = b""
                for chunk in response.iter_content(chunk_size=None):
                    first.setdefault(i, time.monotonic() - start)
                    body += chunk
                last[i] = time.monotonic() - start
                bodies[i] = body
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=40)
    assert not errors, errors[:3]
    assert len(bodies) == n
    expected = b"".join(f"data chunk {i}\n".encode() for i in range(1, count + 1))
    assert all(body == expected for body in bodies.values())
    # Every stream had its first chunk before any stream ended: they were all open at once.
    assert max(first.values()) < min(last.values()), (max(first.values()), min(last.values()))


@pytest.mark.timeout(20)
def test_text_failure_after_third_item_is_a_truncated_body(server: Server) -> None:
    with requests.get(
        server.url("/_test/stream?count=10&fail_after=3"), stream=True, timeout=10
    ) as response:
        assert response.status_code == 200
        got = b""
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in response.iter_content(chunk_size=None):
                got += chunk
    assert got == b"item 1\nitem 2\nitem 3\n"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_framed_failure_after_third_item_has_error_and_no_end(server: Server, fmt: str) -> None:
    with raw_get(server, f"/_test/stream?count=10&fail_after=3&format={fmt}") as sock:
        data = read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    assert not body.endswith(b"0\r\n\r\n"), "a broken stream must not carry the terminator"
    payload = dechunk(body)
    got = decode(fmt, payload)
    assert [r.id for r in got if isinstance(r, Data)] == [1, 2, 3]
    assert got[-1] == Error("internal_error", "internal error")
    assert not any(isinstance(r, End) for r in got)
    assert b"secret" not in payload


def dechunk(body: bytes) -> bytes:
    """Chunk payloads of a (possibly truncated) chunked body."""
    out, rest = b"", body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line, 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


@pytest.mark.timeout(20)
def test_failure_before_first_item_is_a_5xx_with_json(server: Server) -> None:
    response = requests.get(server.url("/_test/stream?fail_before=1&error=upstream"), timeout=10)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"type": "upstream_error", "message": "the upstream failed"}
    }
    internal = requests.get(server.url("/_test/stream?fail_before=1"), timeout=10)
    assert internal.status_code == 500
    assert internal.json()["error"]["type"] == "internal_error"
    assert "secret" not in internal.text


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["text", "sse"])
def test_disconnect_from_an_idle_stream_runs_finally_within_100ms(server: Server, fmt: str) -> None:
    tag = f"idle-{fmt}-{time.monotonic_ns()}"
    sock = raw_get(server, f"/_test/stream?tag={tag}&count=1&idle_after=60&format={fmt}")
    read_until(sock, b"item 1")
    time.sleep(0.2)  # the producer is now idle, waiting a minute
    assert [e["event"] for e in events(server, tag)] == ["start"]
    closed_at = time.time()
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        finished = [e for e in events(server, tag) if e["event"] == "finally"]
        if finished:
            break
        time.sleep(0.02)
    assert finished, "the producer's finally never ran"
    assert finished[0]["t"] - closed_at < 0.1, finished[0]["t"] - closed_at


@pytest.mark.timeout(20)
def test_heartbeats_arrive_during_silence(server: Server) -> None:
    # server heartbeat is 0.5 s; the producer is silent 1.6 s before its only item.
    start = time.monotonic()
    pings: list[float] = []
    with requests.get(
        server.url("/_test/stream?count=1&idle_first=1.6&format=ndjson"), stream=True, timeout=10
    ) as response:
        decoder = NDJSONDecoder()
        got = []
        for chunk in response.iter_content(chunk_size=None):
            for record in decoder.feed(chunk):
                if isinstance(record, Ping):
                    pings.append(time.monotonic() - start)
                got.append(record)
    assert len(pings) >= 2 and pings[0] < 1.0, pings
    assert [r for r in got if not isinstance(r, Ping)] == [Data(1, "item 1\n"), End(1)]


@pytest.mark.timeout(20)
def test_sse_comment_heartbeats_and_retry_on_the_wire(server: Server) -> None:
    with raw_get(server, "/_test/stream?count=1&idle_first=1.2&format=sse") as sock:
        body = dechunk(read_all_until_terminator(sock))
    # Nothing ready at the first write: a comment line opens the body, and the retry hint
    # rides on the first event, not in a block of its own; heartbeats are comment lines with
    # no blank line after them (a blank line is an empty event to some clients).
    assert re.match(rb": ok\n(: ping\n)+retry: 3000\nid: 1\n", body), body[:80]
    assert b"retry: 3000\nid: 1\ndata: item 1\n" in body and b"event: end\n" in body


def read_all_until_terminator(sock: socket.socket) -> bytes:
    data = read_until(sock, b"\r\n0\r\n\r\n")
    return data.partition(b"\r\n\r\n")[2]


@pytest.mark.timeout(20)
def test_bad_parameters_give_400_json(server: Server) -> None:
    response = requests.get(server.url("/stream/data?count=-5"), timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_parameter",
        "message": "parameter 'count' must be between 0 and 100000, got -5",
    }
    assert requests.get(server.url("/stream/data?interval=inf"), timeout=5).status_code == 400
    assert requests.get(server.url("/nope"), timeout=5).json()["error"]["type"] == "not_found"


@pytest.mark.timeout(20)
def test_one_log_line_per_stream_without_query_strings(server: Server) -> None:
    requests.get(
        server.url("/stream/data?count=2&interval=0&format=ndjson&secretparam=x"), timeout=5
    )
    time.sleep(0.2)
    lines = [
        line
        for line in server.log().splitlines()
        if "stream route=/stream/data status=200 format=ndjson" in line
    ]
    assert lines and "outcome=complete records=2" in lines[-1]
    assert "secretparam" not in server.log()


@pytest.mark.timeout(30)
def test_bad_config_stops_start_up_naming_the_variable(make_server: Any) -> None:
    with pytest.raises(RuntimeError, match="STREAMER_HEARTBEAT_S"):
        make_server({"STREAMER_HEARTBEAT_S": "often"})


@pytest.mark.timeout(20)
def test_health_and_readiness(server: Server) -> None:
    assert requests.get(server.url("/healthz"), timeout=5).json() == {"status": "ok"}
    ready = requests.get(server.url("/readyz"), timeout=5)
    assert ready.status_code == 200 and json.loads(ready.text)["status"] == "ready"


@pytest.mark.timeout(20)
def test_records_made_together_are_not_held_while_the_producer_then_idles(server: Server) -> None:
    # Items 2 and 3 come at once after item 1, then the producer idles: they must be on the
    # wire during the idle, not after it (text runs the producer inline in the handler).
    with raw_get(server, "/_test/stream?count=3&idle_after=3") as sock:
        started = time.monotonic()
        read_until(sock, b"item 3\n")
        assert time.monotonic() - started < 1.5
        body = read_all(sock)
    assert body.endswith(b"0\r\n\r\n")


@pytest.mark.timeout(20)
def test_text_deadline_ends_an_idle_inline_stream(make_server: Any) -> None:
    srv = make_server(env={"STREAMER_MAX_STREAM_S": "1"})
    tag = f"deadline-{time.monotonic_ns()}"
    with raw_get(srv, f"/_test/stream?tag={tag}&count=2&idle_after=60") as sock:
        started = time.monotonic()
        body = read_all(sock)
    assert b"item 2" in body and not body.endswith(b"0\r\n\r\n")
    assert time.monotonic() - started < 3
    assert "finally" in [e["event"] for e in events(srv, tag)]


@pytest.mark.timeout(20)
def test_text_silent_before_first_item_gets_headers_after_one_heartbeat(server: Server) -> None:
    # Inline text streams fetch their first item in a greenlet switched to from the view; a
    # producer silent for 1.6 s must still get its headers after one heartbeat (0.5 s).
    with raw_get(server, "/_test/stream?count=1&idle_first=1.6") as sock:
        start = time.monotonic()
        head = read_until(sock, b"\r\n\r\n")
        headers_at = time.monotonic() - start
        rest = read_all(sock)
    assert head.startswith(b"HTTP/1.1 200") and 0.3 < headers_at < 1.2, headers_at
    assert b"item 1\n" in rest and rest.endswith(b"0\r\n\r\n")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("idle", [0.2, 0.8], ids=["before-heartbeat", "after-heartbeat"])
def test_text_disconnect_while_first_item_pending_runs_finally(server: Server, idle: float) -> None:
    tag = f"first-{idle}-{time.monotonic_ns()}"
    sock = raw_get(server, f"/_test/stream?tag={tag}&count=1&idle_first=60")
    time.sleep(idle)
    closed_at = time.time()
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        finished = [e for e in events(server, tag) if e["event"] == "finally"]
        if finished:
            break
        time.sleep(0.02)
    assert finished, "the producer's finally never ran"
    assert finished[0]["t"] - closed_at < 0.1, finished[0]["t"] - closed_at
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200


@pytest.mark.timeout(20)
def test_text_failure_after_a_short_silence_is_a_5xx(server: Server) -> None:
    response = requests.get(
        server.url("/_test/stream?idle_first=0.2&fail_before=1&error=upstream"), timeout=10
    )
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"
