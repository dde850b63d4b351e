"""The client: its I/O-free parsing layer (properties), hostile raw-socket servers, resume,
and the real service under gunicorn with a gevent worker."""

from __future__ import annotations

import itertools
import json
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer import (
    Client,
    ConnectFailed,
    Data,
    DecodeError,
    End,
    HTTPStatusError,
    IdleTimeout,
    IncompleteStream,
    LineTooLong,
    ProtocolError,
    StreamerError,
    StreamErrorRecord,
)
from streamer.client import RecordParser, parse_records, parse_text, text_encoding
from streamer.client import _stream as client_stream
from streamer.framing import LINE_BREAK, NDJSON, SSE

from ..conftest import Server, free_port
from ..hostile import Conn, HostileServer, ndjson_body

# --------------------------------------------------------------------------- helpers


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, duplicates allowed)."""
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def body(fmt: str, payloads: list[Any], pings: int = 0) -> bytes:
    encoder = NDJSON if fmt == "ndjson" else SSE
    out = [encoder.prelude(3000)]
    for i, payload in enumerate(payloads, 1):
        out.append(encoder.data(i, payload))
        if i <= pings:
            out.append(encoder.ping())
    out.append(encoder.end(len(payloads)))
    return b"".join(out)


def expected(fmt: str, payloads: list[Any]) -> list[Data | End]:
    # SSE is text: line breaks inside a payload travel as separate data lines, joined by LF.
    norm = (lambda p: LINE_BREAK.sub("\n", p)) if fmt == "sse" else (lambda p: p)
    return [*(Data(i, norm(p)) for i, p in enumerate(payloads, 1)), End(len(payloads))]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6)
# Line and paragraph separators, NEL, CR, LF: the characters that break naive splitters.
tricky_text = st.text(st.sampled_from("a é€😀\u2028\u2029\u0085\r\n\t\"\\:")
                      | st.characters(exclude_categories=["Cs"]), max_size=30)


# --------------------------------------------------------------------------- parsing layer


@pytest.mark.timeout(120)
@settings(deadline=None)
@given(payloads=st.lists(json_values | tricky_text, max_size=8), pings=st.integers(0, 8),
       data=st.data())
def test_ndjson_any_split_yields_the_same_records(payloads: list[Any], pings: int,
                                                  data: st.DataObject) -> None:
    raw = body("ndjson", payloads, pings)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert list(parse_records(split(raw, cuts), "ndjson")) == expected("ndjson", payloads)


@pytest.mark.timeout(120)
@settings(deadline=None)
@given(payloads=st.lists(tricky_text, max_size=8), pings=st.integers(0, 8), data=st.data())
def test_sse_any_split_yields_the_same_records(payloads: list[str], pings: int,
                                               data: st.DataObject) -> None:
    raw = body("sse", payloads, pings)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert list(parse_records(split(raw, cuts), "sse")) == expected("sse", payloads)


MULTIBYTE = "aé€😀\u2028z"  # 1, 2, 3, 4 and 3-byte characters


@pytest.mark.timeout(30)
def test_multibyte_characters_at_every_split_point() -> None:
    text = MULTIBYTE * 3
    raw = text.encode()
    for fmt in ("ndjson", "sse"):
        rec = body(fmt, [text])
        for i in range(len(rec) + 1):
            assert list(parse_records([rec[:i], rec[i:]], fmt)) == [Data(1, text), End(1)], i
    for i in range(len(raw) + 1):
        assert "".join(parse_text([raw[:i], raw[i:]])) == text, i
        for j in range(i, len(raw) + 1):
            assert "".join(parse_text([raw[:i], raw[i:j], raw[j:]])) == text, (i, j)
    # One byte at a time: no character may come out before its last byte.
    pieces = list(parse_text(bytes([b]) for b in raw))
    assert "".join(pieces) == text and all(p in text for p in pieces)


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(text=st.text(min_size=1, max_size=20), bad=st.sampled_from(
    [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]),
    data=st.data())
def test_invalid_utf8_is_reported_not_crashed_on(text: str, bad: bytes,
                                                 data: st.DataObject) -> None:
    for fmt in ("ndjson", "sse"):
        raw = body(fmt, [text])
        at = data.draw(st.integers(0, len(raw)))
        broken = raw[:at] + bad + raw[at:]
        cuts = data.draw(st.lists(st.integers(0, len(broken)), max_size=5))
        # Bytes that cannot decode: a DecodeError, never a crash; they can also land where
        # they break the framing first (a ProtocolError) or truncate the end (incomplete).
        with pytest.raises((DecodeError, ProtocolError, IncompleteStream)):
            list(parse_records(split(broken, cuts), fmt))
    raw = text.encode()
    at = data.draw(st.integers(0, len(raw)))
    with pytest.raises(DecodeError, match="invalid utf-8 at byte"):
        list(parse_text(split(raw[:at] + bad + raw[at:], [at])))


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(garbage=st.binary(max_size=200), fmt=st.sampled_from(["ndjson", "sse"]))
def test_arbitrary_bytes_raise_only_streamer_errors(garbage: bytes, fmt: str) -> None:
    try:
        list(parse_records([garbage], fmt))
    except StreamerError:
        pass


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(length=st.integers(0, 120), fmt=st.sampled_from(["ndjson", "sse"]), data=st.data())
def test_line_limit_does_not_depend_on_the_split(length: int, fmt: str,
                                                 data: st.DataObject) -> None:
    raw = body(fmt, ["x" * length])
    longest = max(len(line) for line in LINE_BREAK.split(raw.decode()))
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=6))
    if longest > 100:
        with pytest.raises(LineTooLong):
            list(parse_records(split(raw, cuts), fmt, max_line=100))
    else:
        assert list(parse_records(split(raw, cuts), fmt, max_line=100)) == expected(
            fmt, ["x" * length])


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_in_band_error_raises_after_the_records_before_it(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE
    raw = encoder.data(1, "a") + encoder.data(2, "b") + encoder.error("upstream_timeout", "slow")
    got: list[Any] = []
    with pytest.raises(StreamErrorRecord) as info:
        got.extend(parse_records([raw], fmt))
    assert got == [Data(1, "a"), Data(2, "b")]
    err = info.value
    assert (err.type, err.message, err.received, err.last_id) == ("upstream_timeout", "slow", 2, 2)
    assert "after 2 record(s)" in str(err) and isinstance(err, StreamerError)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_a_body_without_end_is_incomplete_and_says_how_many(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE
    raw = body(fmt, ["a", "b", "c"])[:-len(encoder.end(3))]  # no end record
    got: list[Any] = []
    with pytest.raises(IncompleteStream, match=r"after 3 record\(s\) \(last id 3\)") as info:
        got.extend(parse_records([raw], fmt))
    assert len(got) == 3 and info.value.received == 3 and isinstance(info.value, ConnectionError)


@pytest.mark.timeout(10)
def test_records_are_never_delivered_twice_across_bodies() -> None:
    parser = RecordParser("ndjson")
    first = list(parser.parse([b"".join(ndjson_body(3))]))
    parser.resuming()
    # A server that ignores Last-Event-ID replays from the start.
    second = list(parser.parse([b"".join(ndjson_body(5)) + NDJSON.end(5)]))
    assert [r.id for r in first] == [1, 2, 3]
    assert second == [Data(4, "item 4\n"), Data(5, "item 5\n"), End(5)]
    gap = RecordParser("ndjson")
    list(gap.parse(ndjson_body(2)))
    gap.resuming()
    with pytest.raises(IncompleteStream, match=r"records 3\.\.4 were lost"):
        list(gap.parse(ndjson_body(6, first=5)))


@pytest.mark.parametrize(("header", "encoding"), [
    pytest.param("text/plain; charset=utf-8", "utf-8", id="utf8"),
    pytest.param('text/plain; Charset="ISO-8859-1"', "iso8859-1", id="latin1-quoted"),
    pytest.param("text/plain", "utf-8", id="text-without-charset-is-not-latin1"),
    pytest.param(None, "utf-8", id="none"),
])
def test_text_encoding_honours_charset(header: str | None, encoding: str) -> None:
    assert text_encoding(header) == encoding


def test_unknown_charset_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown charset"):
        text_encoding("text/plain; charset=klingon")


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
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(tricky_text, min_size=1, max_size=6), fmt=st.sampled_from(
    ["ndjson", "sse"]), data=st.data())
def test_any_split_on_the_wire_yields_the_same_records(payloads: list[str], fmt: str,
                                                       data: st.DataObject) -> None:
    raw = body(fmt, payloads, pings=2)
    pieces = split(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    media = "application/x-ndjson" if fmt == "ndjson" else "text/event-stream"

    def script(conn: Conn) -> None:
        conn.head(200, media)
        for piece in pieces:
            conn.chunk(piece)
            time.sleep(0.001)  # let most chunks leave as their own TCP segment
        conn.terminate()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client, \
            client.records("/", format=fmt) as stream:
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

    with (HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client,
          client.text("/") as text, pytest.raises(IncompleteStream) as info):
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
            with client.records("/", format=fmt) as stream, \
                    pytest.raises(LineTooLong, match="longer than 1048576 characters"):
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

    with (HostileServer(script) as srv, Client(srv.base_url, max_line=1000) as client,
          client.records("/") as stream, pytest.raises(LineTooLong, match="1000") as info):
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
            conn.chunk(raw[i:i + 7])
        conn.terminate()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client, \
            client.records("/", format=fmt) as stream:
        assert list(stream) == expected(fmt, ["one", "two", "three"])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_error_record_from_the_server(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE

    def script(conn: Conn) -> None:
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunks([encoder.data(1, "a"), encoder.data(2, "b"),
                     encoder.error("upstream_error", "the model went away")])
        # ... and the connection is cut, as the contract says

    with (HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client,
          client.records("/", format=fmt) as stream,
          pytest.raises(StreamErrorRecord) as info):
        collect(stream)
    assert (info.value.type, info.value.message) == ("upstream_error", "the model went away")
    assert info.value.received == 2
    assert info.value.got == [Data(1, "a"), Data(2, "b")]  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
def test_401_with_a_json_body() -> None:
    def script(conn: Conn) -> None:
        conn.json(401, b'{"error": {"type": "unauthorized", "message": "a valid API key '
                       b'is required"}}', {"WWW-Authenticate": "Bearer"})

    with (HostileServer(script) as srv, Client(srv.base_url, token="t0k3n") as client,
          pytest.raises(HTTPStatusError) as info):
        client.records("/stream/data")
    err = info.value
    assert (err.status_code, err.type, err.message) == (401, "unauthorized",
                                                   "a valid API key is required")
    assert err.retry_after is None and isinstance(err, StreamerError)
    assert str(err) == "HTTP 401 unauthorized: a valid API key is required"
    assert srv.requests[0].headers["authorization"] == "Bearer t0k3n"


@pytest.mark.timeout(20)
def test_other_error_bodies_keep_status_retry_after_and_a_message() -> None:
    bodies = [
        (503, "text/html", b"<html>\n<h1>busy</h1>", {"Retry-After": "7"}),
        (502, "application/json", b"not json at all", {}),
        (429, "application/json", b'{"error": {"type": "rate_limited", "message": "slow '
                                  b'down"}}', {"Retry-After": "2"}),
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
            got.append((info.value.status_code, info.value.type, info.value.message,
                        info.value.retry_after))
    assert got == [(503, "service_unavailable", "<html>", 7.0),
                   (502, "bad_gateway", "not json at all", None),
                   (429, "rate_limited", "slow down", 2.0)]


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

    with HostileServer(script) as srv, Client(srv.base_url, timeout=0.4) as client, \
            client.records("/") as stream:
        assert list(stream) == [Data(1, "late"), End(1)]


@pytest.mark.timeout(20)
def test_text_honours_charset_and_defaults_to_utf8() -> None:
    cases = [("text/plain; charset=iso-8859-1", "café".encode("latin-1")),
             ("text/plain", "café €".encode()), ("text/plain", b"caf\xe9")]

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
def test_connection_refused() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", connect_timeout=5) as client, \
            pytest.raises(ConnectFailed, match="could not connect"):
        client.records("/")


@pytest.mark.timeout(20)
def test_text_plain_asked_as_records_says_so() -> None:
    def script(conn: Conn) -> None:
        conn.head(200, "text/plain; charset=utf-8")
        conn.chunk(b"data chunk 1\n")
        conn.terminate()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client, \
            pytest.raises(ProtocolError, match="no records"):
        client.records("/")


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


def resumable(fmt: str, total: int, drops: dict[int, int], *, honour: bool = True,
              retry_ms: int = 20) -> Any:
    """A server that honours Last-Event-ID (unless ``honour`` is False) and, on connection
    ``n``, drops the connection mid-chunk after record ``drops[n]``."""
    encoder = NDJSON if fmt == "ndjson" else SSE

    def script(conn: Conn) -> None:
        after = int(conn.request.headers.get("last-event-id", "0")) if honour else 0
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunk(encoder.prelude(retry_ms))
        stop = drops.get(conn.index, total)
        for i in range(after + 1, min(stop, total) + 1):
            conn.chunk(encoder.data(i, f"record {i}"))
            conn.chunk(encoder.ping())
        if stop < total:
            conn.cut_mid_chunk(encoder.data(stop + 1, "never arrives")[:10])
            return
        conn.chunk(encoder.end(total))
        conn.terminate()

    return script


@pytest.mark.timeout(30)
@pytest.mark.parametrize("honour", [True, False], ids=["honours", "replays-from-start"])
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_resume_after_drops_yields_every_record_once(fmt: str, honour: bool) -> None:
    script = resumable(fmt, 20, {0: 7, 1: 14}, honour=honour)
    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client, \
            client.records("/s?x=1", format=fmt, resume=True, backoff=0.01) as stream:
        got = list(stream)
    assert got == [*(Data(i, f"record {i}") for i in range(1, 21)), End(20)]
    assert stream.reconnects == 2 and stream.received == 20
    assert [r.headers.get("last-event-id") for r in srv.requests] == [None, "7", "14"]
    assert {r.path for r in srv.requests} == {"/s?x=1"}


@pytest.mark.timeout(30)
def test_resume_gives_up_after_max_retries_without_progress() -> None:
    script = resumable("ndjson", 10, {i: 3 for i in range(20)})
    with (HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client,
          client.records("/", resume=True, max_retries=3, backoff=0.01) as stream,
          pytest.raises(IncompleteStream, match=r"3 record\(s\) \(last id 3\)")):
        collect(stream)
    assert len(srv.requests) == 1 + 3


@pytest.mark.timeout(30)
def test_resume_honours_retry_after_and_the_sse_retry_hint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def script(conn: Conn) -> None:
        if conn.index == 1:
            conn.json(503, b'{"error": {"type": "unavailable", "message": "busy"}}',
                      {"Retry-After": "1"})
            return
        resumable("sse", 4, {0: 2}, retry_ms=300)(conn)

    delays: list[float] = []  # what the client waits, recorded instead of slept
    monkeypatch.setattr(client_stream, "sleep", delays.append)
    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client, \
            client.records("/", format="sse", resume=True) as stream:
        assert [r.id for r in stream if isinstance(r, Data)] == [1, 2, 3, 4]
    # 0.3 s (the server's retry hint) before the 503; after it, the hint doubled (0.6 s) but
    # at least its Retry-After (1 s).
    assert delays == [0.3, 1.0]
    assert [r.headers.get("last-event-id") for r in srv.requests] == [None, "2", "2"]


@pytest.mark.timeout(30)
def test_resume_gives_up_at_once_on_404_and_never_repeats_a_post() -> None:
    def script(conn: Conn) -> None:
        if conn.request.path.startswith("/streams/"):
            conn.json(404, b'{"error": {"type": "not_found", "message": "expired"}}')
            return
        headers = {"X-Stream-Id": "abc/1"} if conn.request.path == "/named" else {}
        conn.head(200, headers=headers)
        conn.chunks(ndjson_body(2))
        conn.cut_mid_chunk()

    with HostileServer(script) as srv, Client(srv.base_url, timeout=10) as client:
        with client.records("/chat", json={"q": 1}, resume=True, backoff=0.01) as stream, \
                pytest.raises(IncompleteStream):
            collect(stream)
        with client.records("/named", json={"q": 1}, resume=True, backoff=0.01) as stream, \
                pytest.raises(HTTPStatusError, match="404 not_found: expired"):
            collect(stream)
    assert [(r.method, r.path) for r in srv.requests] == [
        ("POST", "/chat"), ("POST", "/named"), ("GET", "/streams/abc%2F1")]
    assert json.loads(srv.requests[0].body) == {"q": 1}
    assert srv.requests[2].headers["last-event-id"] == "2"


# --------------------------------------------------------------------------- real service


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.base_url, timeout=10) as c:
        yield c


