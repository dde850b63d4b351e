"""Real tier: streamer's worker (streamer.worker.fastpath) keeps gunicorn's HTTP/1 behaviour:
keep-alive, HTTP/1.0 bodies without chunking, the head in the first packet."""

from __future__ import annotations

import socket

import pytest

from ..conftest import Server

pytestmark = pytest.mark.real


def _read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes]:
    """One chunked response from ``buf`` + the socket: (head, body, what follows it)."""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    body = b""
    while True:
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        body, rest = body + rest[:size], rest[size + 2 :]
        if not size:
            return head, body, rest


@pytest.mark.timeout(20)
def test_two_streams_on_one_kept_alive_connection(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        rest = b""
        for count in (2, 3):
            sock.sendall(
                f"GET /stream/data?count={count}&interval=0 HTTP/1.1\r\nHost: test\r\n\r\n".encode()
            )
            head, body, rest = _read_response(sock, rest)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert b"\r\nConnection: keep-alive" in head
            assert body == b"".join(b"data chunk %d\n" % i for i in range(1, count + 1))
        assert rest == b""


@pytest.mark.timeout(20)
def test_the_head_and_the_first_record_arrive_together(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /stream/data?count=1&interval=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        first = sock.recv(65536)  # one send: one segment on loopback
    assert b"\r\nConnection: close" in first
    assert first.split(b"\r\n\r\n", 1)[1].startswith(b"D\r\ndata chunk 1\n\r\n")


@pytest.mark.timeout(20)
def test_http_1_0_gets_an_unchunked_body_and_a_close(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /stream/data?count=2&interval=0 HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 ") and b"chunked" not in head.lower()
    assert body == b"data chunk 1\ndata chunk 2\n"
