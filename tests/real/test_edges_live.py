"""Real tier of the request edges (tests/unit/test_server_bodydeadline.py, test_service_jsonbody.py,
test_server_redirects.py, test_worker_refusals.py, test_quote.py): the same subject through
gunicorn on loopback (and redis-server where it says so)."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import pytest
import requests

from ..conftest import Server
from ..unit.test_worker_refusals import json_error, split
from .test_slow_clients import metric

SLOW_HEAD = (
    b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n"
)


def read_response(sock: socket.socket, limit_s: float) -> tuple[bytes, bool]:
    """Everything the server sends within ``limit_s``; True if it then closed."""
    sock.settimeout(0.2)
    data, deadline = b"", time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@pytest.mark.real
@pytest.mark.timeout(60)
def test_a_late_body_is_408_json_logged_once_counted_and_closed(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_BODY_TIMEOUT_S": "2", "STREAMER_BODY_MIN_RATE": "0"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(SLOW_HEAD + b'{"messages": ')
        start = time.monotonic()
        response, closed = read_response(sock, 10)
        took = time.monotonic() - start
    assert response, "no answer within 10 s: the body was waited for"
    status, error = json_error(response)
    assert (status, error["type"]) == (408, "body_timeout")
    assert "did not arrive within 2 s" in error["message"]
    assert 1.5 < took < 6, took
    assert closed, "the connection stays open after a dropped body"
    time.sleep(0.5)  # the metric is flushed every 0.25 s
    assert metric(server, "streamer_request_bodies_dropped_total", reason="timeout") == 1
    log = server.log()
    assert log.count("request body dropped") == 1
    assert re.search(r"reason=timeout route=/chat received=\d+ length=100000 after_s=2", log)
    assert "Traceback" not in log and "messages" not in log


@pytest.mark.real
@pytest.mark.timeout(60)
def test_a_trickled_body_is_dropped_by_the_rate_floor_a_steady_one_is_not(make_server: Any) -> None:
    server: Server = make_server()  # defaults: 30 s, 500 B/s after 5 s
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 7000}]}).encode()
    steady = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    trickle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with steady, trickle:
        steady.sendall(SLOW_HEAD.replace(b"100000", str(len(body)).encode()))
        trickle.sendall(SLOW_HEAD)
        start = time.monotonic()
        sent = 0
        trickle.setblocking(False)
        while sent < len(body):  # ~2,000 B/s for ~3.5 s: above the floor
            steady.sendall(body[sent : sent + 200])
            sent += 200
            try:
                trickle.send(b" ")  # ~10 B/s: far below it
            except BlockingIOError:
                pass
            time.sleep(0.1)
        ok, _ = read_response(steady, 10)
        assert split(ok)[0] == 200, ok[:300]
        dropped, _ = read_response(trickle, 15)
        took = time.monotonic() - start
    status, error = json_error(dropped)
    assert (status, error["type"]) == (408, "body_timeout")
    assert "slower than 500 bytes/s" in error["message"]
    assert 5 < took < 12, took  # INITIAL_S + PIECE / min_rate = 7 s
    assert "request body dropped: reason=slow route=/chat" in server.log()


@pytest.mark.real
@pytest.mark.timeout(90)
def test_healthz_and_new_streams_are_served_through_a_slow_body_flood(make_server: Any) -> None:
    # 250 slow bodies against 100 connection slots: without a deadline they hold every slot
    # and /healthz waits in the listen queue for as long as they like.
    server: Server = make_server(
        {"STREAMER_WORKER_CONNECTIONS": "100", "STREAMER_BODY_TIMEOUT_S": "2"}
    )
    flood = []
    try:
        for _ in range(250):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.setblocking(False)
            try:
                s.send(SLOW_HEAD + b"{")
            except BlockingIOError:
                pass
            flood.append(s)
        start = time.monotonic()
        health = requests.get(server.url("/healthz"), timeout=15)
        waited = time.monotonic() - start
        assert health.status_code == 200
        assert waited < 12, waited  # three rounds of 2 s, on a loaded box
        stream = requests.get(
            server.url("/stream/data?count=3&interval=0&format=ndjson"), timeout=10
        )
        assert stream.status_code == 200 and b'"event":"end"' in stream.content
        # The bodies in the worker's slots are dropped at their deadline (those past the
        # limit were refused at once: streamer.worker.overflow).
        deadline = time.monotonic() + 10
        while "request body dropped: " not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for s in flood:
            s.close()
    log = server.log()
    assert "Traceback" not in log
    # Every drop counted, but logged once per 10 s window (the drops of a window: one line).
    assert 1 <= log.count("request body dropped: ") <= 2, log.count("request body dropped: ")


@pytest.mark.real
@pytest.mark.timeout(60)
def test_a_full_worker_refuses_at_once_and_still_answers_health(make_server: Any) -> None:
    # Every connection slot held by a stream: gunicorn's worker stopped accepting, and both
    # requests below waited unanswered in the listen queue (a timeout here).
    server: Server = make_server({"STREAMER_WORKER_CONNECTIONS": "20"})
    held: list[socket.socket] = []
    try:
        # Until streams hold all 20 slots: a slot may still be held by an idle keep-alive
        # connection (the fixture's readiness checks) until its keep-alive ends; a stream
        # that lands past the limit meanwhile is refused, and is opened again.
        deadline = time.monotonic() + 20
        while len(held) < 20:
            assert time.monotonic() < deadline, f"only {len(held)} streams started"
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /stream/data?count=100&interval=0.5 HTTP/1.1\r\nHost: t\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                held.append(s)
            else:
                s.close()
                time.sleep(0.2)
        start = time.monotonic()
        health = requests.get(server.url("/healthz"), timeout=5)
        ready = requests.get(server.url("/readyz"), timeout=5)
        refused = requests.get(server.url("/stream/data?count=3&interval=0"), timeout=5)
        took = time.monotonic() - start
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert ready.status_code == 200
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "too_many_connections"
        assert refused.headers["Retry-After"] == "1"
        assert took < 3, took  # at once, not after a slot frees
    finally:
        for s in held:
            s.close()
    # Slots free again: streams are served as before.
    deadline = time.monotonic() + 10
    while True:
        stream = requests.get(
            server.url("/stream/data?count=3&interval=0&format=ndjson"), timeout=5
        )
        if stream.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert stream.status_code == 200 and b'"event":"end"' in stream.content
    assert "Traceback" not in server.log()


HOSTILE = [
    pytest.param(b"[" * 100_000, "nests deeper than 128 levels", id="100KB-of-brackets"),
    pytest.param(b'{"a":' * 50_000, "nests deeper than 128 levels", id="50000-objects"),
    pytest.param(
        b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":' + b"9" * 5000 + b"}",
        "number longer than 100 characters",
        id="5000-digit-max-tokens",
    ),
    pytest.param(
        b'{"messages":[{"role":"user","content":"hi"}],"temperature":NaN}',
        "NaN is not a JSON value",
        id="nan",
    ),
]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("body", "says"), HOSTILE)
def test_hostile_json_is_400_naming_the_problem_without_a_traceback(
    server: Server, body: bytes, says: str
) -> None:
    before = len(server.log())
    response = requests.post(
        server.url("/chat"), data=body, timeout=10, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "invalid_json"
    assert says in response.json()["error"]["message"]
    assert "Traceback" not in server.log()[before:]


def raw_request(server: Server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        response, _ = read_response(sock, 5)
    return response


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/static//x", "/static/x"),
        ("/static///x?a=1", "/static/x?a=1"),
        ("/static//page.css", "/static/page.css"),
    ],
)
def test_router_redirects_are_relative_and_never_name_the_host(
    server: Server, path: str, location: str
) -> None:
    response = raw_request(
        server, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
    )
    status, headers, body = split(response)
    assert status == 308
    assert headers["location"] == location
    assert b"evil.example" not in response
    assert body == b""


@pytest.mark.real
@pytest.mark.timeout(60)
def test_static_files_still_served_and_reached_through_the_redirect(server: Server) -> None:
    direct = requests.get(server.url("/static/page.css"), timeout=10)
    assert direct.status_code == 200 and direct.headers["Content-Type"].startswith("text/css")
    followed = requests.get(server.url("/static//page.css"), timeout=10)
    assert followed.status_code == 200 and followed.content == direct.content
    assert [r.status_code for r in followed.history] == [308]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("request_bytes", "status", "type"),
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
            id="10KB-header",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
            + b"\r\n",
            431,
            "request_header_fields_too_large",
            id="200-fields",
        ),
        pytest.param(
            b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "request_uri_too_long",
            id="long-request-line",
        ),
        pytest.param(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "bad_request",
            id="CL+TE",
        ),
        pytest.param(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
            + b"x" * 3000
            + b", chunked\r\n\r\n0\r\n\r\n",
            501,
            "not_implemented",
            id="unknown-coding",
        ),
        pytest.param(b"GARBAGE\r\n\r\n", 400, "bad_request", id="garbage"),
    ],
)
def test_gunicorn_refusals_are_json(
    server: Server, request_bytes: bytes, status: int, type: str
) -> None:
    before = len(server.log())
    got_status, error = json_error(raw_request(server, request_bytes))
    assert (got_status, error["type"]) == (status, type)
    assert (
        len(error["message"]) < 200
        and "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in error["message"]
    )
    assert "Traceback" not in server.log()[before:]
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "request_args",
    [
        pytest.param({"method": "GET", "url": "/stream/data?count=" + "9" * 3000}, id="count"),
        pytest.param({"method": "GET", "url": "/stream/data?count=" + "9" * 5000}, id="count-5000"),
        pytest.param(
            {"method": "GET", "url": "/stream/series?interval=" + "9" * 3000}, id="interval"
        ),
        pytest.param({"method": "GET", "url": "/stream/data?format=" + "x" * 3000}, id="format"),
        pytest.param(
            {
                "method": "GET",
                "url": "/streams/" + "a" * 32,
                "headers": {"Last-Event-ID": "9" * 3000},
            },
            id="last-event-id",
        ),
        pytest.param(
            {
                "method": "POST",
                "url": "/chat",
                "json": {"messages": [{"role": "user", "content": "hi"}], "y" * 3000: 1},
            },
            id="unknown-field",
        ),
        pytest.param({"method": "GET", "url": "/v1/models/" + "x" * 200}, id="v1-model-id"),
        pytest.param(
            {
                "method": "POST",
                "url": "/v1/chat/completions",
                "json": {
                    "model": "m",
                    "messages": [{"role": "user", "content": "hi"}],
                    "y" * 200: 1,
                },
            },
            id="v1-unknown-key",
        ),
    ],
)
def test_echoed_values_are_cut_at_40_characters(
    server: Server, request_args: dict[str, Any]
) -> None:
    args = dict(request_args)
    response = requests.request(args.pop("method"), server.url(args.pop("url")), timeout=10, **args)
    assert 400 <= response.status_code < 500, response.text[:300]
    message = response.json()["error"]["message"]
    assert len(message) < 150, message
    assert not re.search(r"(9{41}|x{41}|y{41})", message), message
    assert not re.search(r"(9{41}|x{41}|y{41})", response.text), response.text[:300]  # param too
