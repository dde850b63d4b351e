"""Real tier of tests/unit/test_bad_input.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from ..conftest import Server

MIB = 1 << 20
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def assert_json_error(response: requests.Response, status: int, type: str | None = None) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "message"}
    if type is not None:
        assert error["type"] == type


@pytest.mark.real
@pytest.mark.timeout(60)
def test_oversized_bodies_are_413_json_with_and_without_content_length(server: Server) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (MIB + 10)}]}).encode()
    with_length = requests.post(
        server.url("/chat"), data=big, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert_json_error(with_length, 413, "request_entity_too_large")

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    chunked = requests.post(
        server.url("/chat"), data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
    assert_json_error(chunked, 413, "request_entity_too_large")
    # Just under the limit is read (and then judged on its fields).
    fits = json.dumps({"messages": [{"role": "user", "content": "x" * (MIB - 100)}]})
    assert_json_error(
        requests.post(
            server.url("/chat"), data=fits, timeout=10, headers={"Content-Type": "application/json"}
        ),
        422,
    )


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("body", "content_type", "status", "type"),
    [
        pytest.param(b'{"messages": [', "application/json", 400, "invalid_json", id="truncated"),
        pytest.param(b"\xff\xfe{}", "application/json", 400, "invalid_json", id="not-utf8"),
        pytest.param(b"[1, 2]", "application/json", 400, "invalid_json", id="not-an-object"),
        pytest.param(b"", "application/json", 400, "invalid_json", id="empty"),
        pytest.param(
            json.dumps(CHAT).encode(), "text/plain", 415, "unsupported_media_type", id="text-plain"
        ),
        pytest.param(
            json.dumps(CHAT).encode(), None, 415, "unsupported_media_type", id="no-content-type"
        ),
        pytest.param(
            b"messages=hi",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
            id="form",
        ),
        pytest.param(
            b'{"messages": []}', "application/json", 422, "invalid_field", id="no-message"
        ),
        pytest.param(
            json.dumps({"messages": [{"role": "user", "content": "x"}] * 101}).encode(),
            "application/json",
            422,
            "invalid_field",
            id="too-many-messages",
        ),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}',
            "application/json",
            422,
            "invalid_field",
            id="huge-number",
        ),
        pytest.param(
            b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
            "application/json",
            200,
            None,
            id="lone-surrogate",
        ),
    ],
)
def test_malformed_bodies_and_content_types(
    server: Server, body: bytes, content_type: str | None, status: int, type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(server.url("/chat"), data=body, headers=headers, timeout=10)
    if status == 200:
        assert response.status_code == 200
    else:
        assert_json_error(response, status, type)


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "query",
    [
        "count=%FF",
        "count=%C0%AF",
        "interval=nan",
        "interval=inf",
        "count=1e999",
        "count=99999999999999999999999",
        "format=%00",
        "seed=-1",
        "seed=1.5",
        "format=" + "x" * 3000,
    ],
)
def test_bad_query_strings_are_400_json(server: Server, query: str) -> None:
    assert_json_error(
        requests.get(server.url(f"/stream/series?{query}"), timeout=10), 400, "invalid_parameter"
    )
    assert_json_error(
        requests.get(server.url("/stream/data?resumable=maybe"), timeout=10),
        400,
        "invalid_parameter",
    )


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            id="field-over-8190",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
            + b"\r\n",
            id="200-fields",
        ),
        pytest.param(
            b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            id="request-line-over-4094",
        ),
        pytest.param(b"GET /stream/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", id="non-utf8-path"),
        pytest.param(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="smuggling",
        ),
        pytest.param(b"GARBAGE\r\n\r\n", id="garbage"),
    ],
)
def test_hostile_request_heads_get_a_4xx_not_a_5xx(server: Server, request_bytes: bytes) -> None:
    before = len(server.log())  # the session server's log: only what this test adds
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        head = sock.recv(4096)
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 500, head[:200]
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    assert "Traceback" not in server.log()[before:]


CHUNKED_HEAD = (
    b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def read_until_closed(sock: socket.socket, limit_s: float = 10.0) -> bytes:
    """What the server sends until it closes (a reset ends it too), within ``limit_s``."""
    sock.settimeout(limit_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", [b"/chat", b"/v1/chat/completions", b"/v1/responses"])
@pytest.mark.parametrize(
    "framing",
    [
        pytest.param(b"ZZ\r\nabc\r\n0\r\n\r\n", id="size-not-hex"),
        pytest.param(b"3\r\nabcXY\r\n0\r\n\r\n", id="no-crlf-after-data"),
        pytest.param(b"1G" + b"e" * 5000 + b"\r\nabc\r\n0\r\n\r\n", id="long-bad-size"),
    ],
)
def test_bad_chunk_framing_is_400_json_without_a_traceback(
    server: Server, path: bytes, framing: bytes
) -> None:
    before = len(server.log())  # the session server's log: only what this test adds
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(CHUNKED_HEAD % path + framing)
        response = read_until_closed(sock)  # and the connection closes after it
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), response[:300]
    assert b"Content-Type: application/json" in head
    error = json.loads(body)["error"]
    assert error["message"].startswith("the request body is malformed: "), error
    assert error.get("code", error["type"]) == "malformed_body", error
    assert "e" * 41 not in error["message"]
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    assert "Traceback" not in server.log()[before:]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"POST /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", id="close"),
        pytest.param(b"POST /chat HTTP/1.0\r\nHost: x\r\n", id="http-1.0"),  # nginx's default
        pytest.param(b"POST /chat HTTP/1.1\r\nHost: x\r\n", id="keep-alive"),
    ],
)
def test_a_2_mib_body_sent_at_once_gets_the_413_not_a_reset(server: Server, head: bytes) -> None:
    # The 413 goes out before the body is read; closing with the body still in the receive
    # buffer makes the kernel answer with RST, and a client may lose the 413 to it.
    body = b"x" * (2 * MIB)
    head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head + body)  # a reset here is the bug too
            sock.shutdown(socket.SHUT_WR)  # all sent: the server sees EOF after the body
            response = read_until_closed(sock)  # a reset raises ConnectionResetError
        top, _, rest = response.partition(b"\r\n\r\n")
        assert top.split(b" ", 2)[1] == b"413", response[:300]
        assert b"Content-Type: application/json" in top
        assert json.loads(rest)["error"]["type"] == "request_entity_too_large"


# -- hypothesis, in process ------------------------------------------------------------------
