"""Fast tier of streamer.server.resumable.routes: the resume routes (GET and DELETE
<prefix>/<id>)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from streamer.server.response import StreamAborted
from streamer.wire.records import End, Error

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
