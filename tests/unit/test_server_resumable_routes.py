"""Fast tier of streamer.server.resumable.routes: the resume routes (GET and DELETE
<prefix>/<id>)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamer.errors import StoreUnavailable
from streamer.server.response import StreamAborted
from streamer.server.state import state_of
from streamer.wire.decoders import SSEDecoder
from streamer.wire.records import End, Error, Ping

from .test_server_resumable import decode


@pytest.mark.timeout(20)
def test_stream_errors_are_json(client: FlaskClient) -> None:
    unknown = client.get("/streams/" + "x" * 43)
    assert unknown.status_code == 404
    assert unknown.json == {
        "error": {"type": "not_found", "message": "no such stream (unknown or expired)"}
    }
    assert client.get("/streams/../etc").status_code == 404
    assert client.delete("/streams/" + "x" * 43).status_code == 404
    sid = client.get("/stream/data?count=1&interval=0&resumable=1").headers["X-Stream-Id"]
    bad = client.get(f"/streams/{sid}", headers={"Last-Event-ID": "two"})
    assert bad.status_code == 400 and bad.json["error"]["type"] == "invalid_last_event_id"
    assert client.get(f"/streams/{sid}?last_event_id=9").status_code == 400
    assert client.delete(f"/streams/{sid}").status_code == 204  # finished: nothing to cancel
    assert client.get("/stream/data?resumable=maybe").status_code == 400


@pytest.mark.timeout(20)
def test_delete_cancels_a_running_stream(client: FlaskClient) -> None:
    response = client.get(
        "/stream/data?count=1000&interval=0.05&resumable=1&format=ndjson", buffered=False
    )
    sid = response.headers["X-Stream-Id"]
    cancelled = client.delete(f"/streams/{sid}")
    assert cancelled.status_code == 202
    assert cancelled.json == {"id": sid, "status": "cancelled"}
    body = b""
    with pytest.raises(StreamAborted):  # a failed stream is cut, here as in a real server
        for chunk in response.response:
            body += chunk
    response.close()
    got = decode(body)
    assert got[-1] == Error("cancelled", "the stream was cancelled")
    assert not any(isinstance(r, End) for r in got)
    assert client.delete(f"/streams/{sid}").status_code == 204


@pytest.mark.timeout(20)
def test_an_sse_resume_at_the_end_of_a_finished_stream_is_204(client: FlaskClient) -> None:
    # EventSource reconnects after every body that ends; a 204 is what makes it stop
    # (WHATWG 9.2.3), instead of re-reading the end forever.
    sid = client.get("/stream/data?count=2&interval=0&resumable=1").headers["X-Stream-Id"]
    sse = {"Accept": "text/event-stream"}
    full = client.get(f"/streams/{sid}", headers=sse)
    assert full.status_code == 200 and b"id: 3\nevent: end\n" in full.data  # the end's id
    done = client.get(f"/streams/{sid}", headers={**sse, "Last-Event-ID": "3"})
    assert (done.status_code, done.data) == (204, b"")
    assert client.get(f"/streams/{sid}?last_event_id=3&format=sse").status_code == 204
    # Cut after the last record but before the end: the end, so the reader learns it.
    cut = client.get(f"/streams/{sid}", headers={**sse, "Last-Event-ID": "2"})
    assert cut.status_code == 200 and b"event: end" in cut.data and b"data: " in cut.data
    again = client.get(f"/streams/{sid}", headers={**sse, "Last-Event-ID": "1"})
    assert again.status_code == 200 and b"event: end" in again.data
    # Other formats (streamer's client) still get the stored end: it says how it ended.
    nd = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "2"})
    assert nd.status_code == 200 and decode(nd.data) == [End(2)]
    # Past the end is an id the stream never had: still a 400.
    assert client.get(f"/streams/{sid}", headers={**sse, "Last-Event-ID": "4"}).status_code == 400


@pytest.mark.timeout(20)
def test_an_sse_resume_while_the_store_is_away_asks_to_reconnect_and_others_get_503(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EventSource fails for good on any status but 200 (WHATWG 9.2.3): a resume that lands in
    # a Redis failover would leave the page with a dead stream. It gets a body that sets the
    # retry and dispatches nothing (no blank line), and reconnects with the same id.
    sid = client.get("/stream/data?count=2&interval=0&resumable=1").headers["X-Stream-Id"]
    store = state_of(app).store

    def away(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("the stream store is unreachable", retry_after=5)

    monkeypatch.setattr(store, "owner", away)
    monkeypatch.setattr(store, "read", away)
    sse = {"Accept": "text/event-stream", "Last-Event-ID": "1"}
    later = client.get(f"/streams/{sid}", headers=sse)
    assert later.status_code == 200
    assert later.headers["Content-Type"] == "text/event-stream"
    assert later.headers["Cache-Control"] == "no-cache"
    assert later.data == b"retry: 3000\n: store_unavailable: the stream store is unreachable\n"
    decoder = SSEDecoder()
    assert list(decoder.feed(later.data)) + decoder.close() == [Ping()]  # a comment, no event
    assert decoder.retry_ms == 3000
    # The other formats keep the 503 with Retry-After: their readers retry it.
    nd = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "1"})
    assert nd.status_code == 503 and nd.headers["Retry-After"] == "5"
    assert nd.json["error"]["type"] == "store_unavailable"
    # Back: the same resume reads on.
    monkeypatch.undo()
    again = client.get(f"/streams/{sid}", headers=sse)
    assert again.status_code == 200 and b"id: 2\n" in again.data and b"event: end" in again.data
