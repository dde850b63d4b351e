"""Fast tier of streamer.client: the client end to end against hostile raw-socket servers
(tests/hostile.py): any split on the wire, cut and unterminated bodies, huge lines, in-band
errors, charsets, abandoned streams. Each module of the package has its own test module
(test_client_parse.py, test_client_http.py, test_client_stream.py...); the client against
the real service under gunicorn is tests/real/test_client_live.py."""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer import Client, Data, End, IncompleteStream, StreamerError, StreamErrorRecord
from streamer.errors import DecodeError, LineTooLong
from streamer.wire.framing import NDJSON, SSE

from ..hostile import Conn, HostileServer, ndjson_body
from .test_client_parse import body, expected, split, tricky_text

# --------------------------------------------------------------------------- hostile servers


def collect(stream: Any) -> list[Any]:
    got: list[Any] = []
    try:
        for item in stream:
            got.append(item)
    except StreamerError as exc:
        exc.got = got  # type: ignore[attr-defined]
        raise
    return got


@pytest.mark.timeout(60)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payloads=st.lists(tricky_text, min_size=1, max_size=6),
    fmt=st.sampled_from(["ndjson", "sse"]),
    data=st.data(),
)
def test_any_split_on_the_wire_yields_the_same_records(
    payloads: list[str], fmt: str, data: st.DataObject
) -> None:
    raw = body(fmt, payloads, pings=2)
    pieces = split(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    media = "application/x-ndjson" if fmt == "ndjson" else "text/event-stream"

    def script(conn: Conn) -> None:
        conn.head(200, media)
        for piece in pieces:
            conn.chunk(piece)
            time.sleep(0.001)  # let most chunks leave as their own TCP segment
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/", format=fmt) as stream,
    ):
        assert list(stream) == expected(fmt, payloads)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_chunked_body_cut_in_the_middle(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE

    def script(conn: Conn) -> None:
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunks(encoder.data(i, f"item {i}") for i in (1, 2, 3))
        conn.cut_mid_chunk()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        stream = client.records("/", format=fmt)
        with stream, pytest.raises(IncompleteStream) as info:
            collect(stream)
    assert [r.id for r in info.value.got] == [1, 2, 3]  # type: ignore[attr-defined]
    assert (info.value.received, info.value.last_id) == (3, 3)
    assert "cut" in str(info.value) and "3 record(s)" in str(info.value)
    assert isinstance(info.value.__cause__, requests.exceptions.ChunkedEncodingError)


@pytest.mark.timeout(20)
def test_missing_terminator_makes_text_incomplete() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, "text/plain; charset=utf-8")
        conn.chunks([b"data chunk 1\n", b"data chunk 2\n"])  # and no 0\r\n\r\n

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.text("/") as text,
        pytest.raises(IncompleteStream) as info,
    ):
        collect(text)
    assert "".join(info.value.got) == "data chunk 1\ndata chunk 2\n"  # type: ignore[attr-defined]
    assert info.value.received == 26 and "26 byte(s)" in str(info.value)
    assert not text.complete


@pytest.mark.timeout(20)
def test_missing_terminator_without_end_is_incomplete_but_after_end_is_complete() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks(ndjson_body(2))
        if conn.index == 1:
            conn.chunk(NDJSON.end(2))  # the end record arrived; only the terminator is lost

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        with client.records("/") as stream, pytest.raises(IncompleteStream, match="cut"):
            collect(stream)
        with client.records("/") as stream:
            assert collect(stream)[-1] == End(2)


@pytest.mark.timeout(20)
def test_close_delimited_body_streams_and_is_checked_for_end() -> None:
    first_seen = threading.Event()

    def script(conn: Conn) -> None:
        conn.head(chunked=False)  # no length, no chunking: the body ends at close
        conn.send(NDJSON.data(1, "a"))
        # The rest is sent only once the client has the first record: proves it streams.
        assert first_seen.wait(5), "the client did not get the first record before close"
        conn.send(NDJSON.data(2, "b") + (NDJSON.end(2) if conn.index == 0 else b""))

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        with client.records("/") as stream:
            got = []
            for record in stream:
                got.append(record)
                first_seen.set()
        assert got == [Data(1, "a"), Data(2, "b"), End(2)]
        first_seen.clear()
        with client.records("/") as stream, pytest.raises(IncompleteStream, match="without"):
            for _ in stream:
                first_seen.set()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_ten_megabyte_line_is_refused_with_bounded_memory(fmt: str) -> None:
    block = b"x" * 65536
    sent = []

    def script(conn: Conn) -> None:
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunk(b"data: " if fmt == "sse" else b'{"event":"data","id":1,"data":"')
        for _ in range(160):  # 10 MiB, no newline
            conn.chunk(block)
            sent.append(len(block))
        conn.terminate()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        tracemalloc.start()
        try:
            with (
                client.records("/", format=fmt) as stream,
                pytest.raises(LineTooLong, match="longer than 1048576 characters"),
            ):
                list(stream)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes while refusing a 10 MB line"
    assert sum(sent) < 10 << 20, "the client read the whole line before refusing it"


@pytest.mark.timeout(20)
def test_line_limit_is_configurable() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunk(NDJSON.data(1, "short"))
        conn.chunk(NDJSON.data(2, "y" * 5000))
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, max_line=1000) as client,
        client.records("/") as stream,
        pytest.raises(LineTooLong, match="1000") as info,
    ):
        collect(stream)
    assert info.value.got == [Data(1, "short")]  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_cr_only_line_endings(fmt: str) -> None:
    raw = body(fmt, ["one", "two", "three"]).replace(b"\n", b"\r")
    assert b"\n" not in raw

    def script(conn: Conn) -> None:
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        for i in range(0, len(raw), 7):  # some chunks end on a CR: is an LF coming?
            conn.chunk(raw[i : i + 7])
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/", format=fmt) as stream,
    ):
        assert list(stream) == expected(fmt, ["one", "two", "three"])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_error_record_from_the_server(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE

    def script(conn: Conn) -> None:
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunks(
            [
                encoder.data(1, "a"),
                encoder.data(2, "b"),
                encoder.error("upstream_error", "the model went away"),
            ]
        )
        # ... and the connection is cut, as the contract says

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/", format=fmt) as stream,
        pytest.raises(StreamErrorRecord) as info,
    ):
        collect(stream)
    assert (info.value.type, info.value.message) == ("upstream_error", "the model went away")
    assert info.value.received == 2
    assert info.value.got == [Data(1, "a"), Data(2, "b")]  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
def test_text_honours_charset_and_defaults_to_utf8() -> None:
    cases = [
        ("text/plain; charset=iso-8859-1", "café".encode("latin-1")),
        ("text/plain", "café €".encode()),
        ("text/plain", b"caf\xe9"),
    ]

    def script(conn: Conn) -> None:
        media, raw = cases[conn.index]
        conn.head(200, media)
        conn.chunks([raw[:4], raw[4:]])
        conn.terminate()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        with client.text("/") as text:
            assert "".join(text) == "café" and text.complete
        with client.text("/") as text:
            assert "".join(text) == "café €"  # requests would say "cafÃ© â\x82¬"
        with client.text("/") as text, pytest.raises(DecodeError):
            list(text)


@pytest.mark.timeout(20)
def test_abandoned_stream_closes_its_connection() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks(ndjson_body(3))
        conn.wait(30)

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        stream = client.records("/")
        iterator = iter(stream)
        assert next(iterator) == Data(1, "item 1\n")
        with pytest.raises(RuntimeError, match="only once"):
            iter(stream)
        iterator.close()  # what a `break` out of a for loop does at garbage collection
        assert stream.response.raw.closed


# --------------------------------------------------------------------------- resume
