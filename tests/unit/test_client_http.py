"""Fast tier of streamer.client._http: opening a response (status errors and their bodies,
timeouts, refused connections) against hostile raw-socket servers (tests/hostile.py)."""

from __future__ import annotations

import time

import pytest

from streamer import Client, Data, End, StreamerError
from streamer.errors import ConnectFailed, HTTPStatusError, IdleTimeout, ProtocolError
from streamer.wire.framing import NDJSON

from ..hostile import Conn, HostileServer
from ..ports import free_port
from .test_client import collect


@pytest.mark.timeout(20)
def test_401_with_a_json_body() -> None:
    def script(conn: Conn) -> None:
        conn.json(
            401,
            b'{"error": {"type": "unauthorized", "message": "a valid API key is required"}}',
            {"WWW-Authenticate": "Bearer"},
        )

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, token="t0k3n") as client,
        pytest.raises(HTTPStatusError) as info,
    ):
        client.records("/stream/data")
    err = info.value
    assert (err.status_code, err.type, err.message) == (
        401,
        "unauthorized",
        "a valid API key is required",
    )
    assert err.retry_after is None and isinstance(err, StreamerError)
    assert str(err) == "HTTP 401 unauthorized: a valid API key is required"
    assert srv.requests[0].headers["authorization"] == "Bearer t0k3n"


@pytest.mark.timeout(20)
def test_other_error_bodies_keep_status_retry_after_and_a_message() -> None:
    bodies = [
        (503, "text/html", b"<html>\n<h1>busy</h1>", {"Retry-After": "7"}),
        (502, "application/json", b"not json at all", {}),
        (
            429,
            "application/json",
            b'{"error": {"type": "rate_limited", "message": "slow down"}}',
            {"Retry-After": "2"},
        ),
    ]

    def script(conn: Conn) -> None:
        status, media, raw, headers = bodies[conn.index]
        conn.head(status, media, {"Content-Length": str(len(raw)), **headers}, chunked=False)
        conn.send(raw)

    with HostileServer(script) as srv, Client(srv.base_url) as client:
        got = []
        for _ in bodies:
            with pytest.raises(HTTPStatusError) as info:
                client.text("/")
            got.append(
                (
                    info.value.status_code,
                    info.value.type,
                    info.value.message,
                    info.value.retry_after,
                )
            )
    assert got == [
        (503, "service_unavailable", "<html>", 7.0),
        (502, "bad_gateway", "not json at all", None),
        (429, "rate_limited", "slow down", 2.0),
    ]


@pytest.mark.timeout(20)
def test_silent_server_fires_the_read_timeout() -> None:
    def script(conn: Conn) -> None:
        if conn.index == 0:
            conn.head()
            conn.chunk(NDJSON.data(1, "a"))
        conn.wait(30)  # silence (the second connection: not even a status line)

    with HostileServer(script) as srv, Client(srv.base_url, timeout=0.3) as client:
        start = time.monotonic()
        with client.records("/") as stream, pytest.raises(IdleTimeout) as info:
            collect(stream)
        assert time.monotonic() - start < 5
        assert info.value.got == [Data(1, "a")]  # type: ignore[attr-defined]
        assert isinstance(info.value, TimeoutError) and info.value.received == 1
        with pytest.raises(IdleTimeout):
            client.records("/")


@pytest.mark.timeout(20)
def test_heartbeats_reset_the_read_timeout() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        for _ in range(10):  # 1 s of pings, far longer than the 0.4 s timeout
            conn.chunk(NDJSON.ping())
            conn.wait(0.1)
        conn.chunks([NDJSON.data(1, "late"), NDJSON.end(1)])
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=0.4) as client,
        client.records("/") as stream,
    ):
        assert list(stream) == [Data(1, "late"), End(1)]


@pytest.mark.timeout(20)
def test_connection_refused() -> None:
    with (
        Client(f"http://127.0.0.1:{free_port()}", connect_timeout=5) as client,
        pytest.raises(ConnectFailed, match="could not connect"),
    ):
        client.records("/")


@pytest.mark.timeout(20)
def test_text_plain_asked_as_records_says_so() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, "text/plain; charset=utf-8")
        conn.chunk(b"data chunk 1\n")
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        pytest.raises(ProtocolError, match="no records"),
    ):
        client.records("/")
