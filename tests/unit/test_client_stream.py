"""Fast tier of streamer.client._stream: resuming a dropped stream after its last id, against
hostile raw-socket servers (tests/hostile.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer import Client, Data, End, IncompleteStream
from streamer.client import _stream as client_stream
from streamer.errors import HTTPStatusError
from streamer.wire.framing import NDJSON, SSE

from ..hostile import Conn, HostileServer, ndjson_body
from .test_client import collect


def resumable(
    fmt: str, total: int, drops: dict[int, int], *, honour: bool = True, retry_ms: int = 20
) -> Any:
    """A server that honours Last-Event-ID (unless ``honour`` is False) and, on connection
    ``n``, drops the connection mid-chunk after record ``drops[n]``."""
    encoder = NDJSON if fmt == "ndjson" else SSE

    def script(conn: Conn) -> None:
        after = int(conn.request.headers.get("last-event-id", "0")) if honour else 0
        conn.head(200, "application/x-ndjson" if fmt == "ndjson" else "text/event-stream")
        conn.chunk(encoder.lead(retry_ms))
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
    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/s?x=1", format=fmt, resume=True, backoff=0.01) as stream,
    ):
        got = list(stream)
    assert got == [*(Data(i, f"record {i}") for i in range(1, 21)), End(20)]
    assert stream.reconnects == 2 and stream.received == 20
    assert [r.headers.get("last-event-id") for r in srv.requests] == [None, "7", "14"]
    assert {r.path for r in srv.requests} == {"/s?x=1"}


@pytest.mark.timeout(30)
def test_resume_gives_up_after_max_retries_without_progress() -> None:
    script = resumable("ndjson", 10, {i: 3 for i in range(20)})
    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/", resume=True, max_retries=3, backoff=0.01) as stream,
        pytest.raises(IncompleteStream, match=r"3 record\(s\) \(last id 3\)"),
    ):
        collect(stream)
    assert len(srv.requests) == 1 + 3


@pytest.mark.timeout(30)
def test_resume_honours_retry_after_and_the_sse_retry_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def script(conn: Conn) -> None:
        if conn.index == 1:
            conn.json(
                503, b'{"error": {"type": "unavailable", "message": "busy"}}', {"Retry-After": "1"}
            )
            return
        resumable("sse", 4, {0: 2}, retry_ms=300)(conn)

    delays: list[float] = []  # what the client waits, recorded instead of slept
    monkeypatch.setattr(client_stream, "sleep", delays.append)
    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/", format="sse", resume=True) as stream,
    ):
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
        with (
            client.records("/chat", json={"q": 1}, resume=True, backoff=0.01) as stream,
            pytest.raises(IncompleteStream),
        ):
            collect(stream)
        with (
            client.records("/named", json={"q": 1}, resume=True, backoff=0.01) as stream,
            pytest.raises(HTTPStatusError, match="404 not_found: expired"),
        ):
            collect(stream)
    assert [(r.method, r.path) for r in srv.requests] == [
        ("POST", "/chat"),
        ("POST", "/named"),
        ("GET", "/streams/abc%2F1"),
    ]
    assert json.loads(srv.requests[0].body) == {"q": 1}
    assert srv.requests[2].headers["last-event-id"] == "2"


@pytest.mark.timeout(30)
def test_a_204_on_resume_means_nothing_more() -> None:
    # What streamer answers an SSE resume at the end of a finished stream (EventSource's
    # stop signal): the records so far are all there is, no error, no further attempt.
    def script(conn: Conn) -> None:
        if conn.index:
            conn.head(204, None, {"Content-Length": "0"}, chunked=False)
            return
        conn.head(200, "text/event-stream")
        conn.chunks([SSE.lead(20) + SSE.data(1, "a"), SSE.data(2, "b")])
        conn.cut_mid_chunk(b"event: en")

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, timeout=10) as client,
        client.records("/s", format="sse", resume=True, backoff=0.01) as stream,
    ):
        assert list(stream) == [Data(1, "a"), Data(2, "b")]
    assert stream.end is None and stream.reconnects == 1
    assert [r.headers.get("last-event-id") for r in srv.requests] == [None, "2"]
