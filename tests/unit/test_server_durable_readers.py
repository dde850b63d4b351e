"""Fast tier of streamer.server.durable.readers: which requests are live reads, the name a
read token carries for a path, the in-band end of an expired SSE reader."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from streamer import Streamer
from streamer.server.durable.readers import (
    EXPIRED,
    expired_event,
    is_live_read,
    other_stream,
    stream_name,
)
from streamer.server.state import current_store
from streamer.wire.records import Data

SID = "3q2-7wVx0123456789abc"


@pytest.mark.parametrize(
    "method, args, live",
    [
        pytest.param("GET", {"offset": "-1", "live": "long-poll"}, True, id="long-poll"),
        pytest.param("GET", {"offset": "-1", "live": "sse"}, True, id="sse"),
        pytest.param("GET", {"offset": "-1"}, False, id="catch-up"),
        pytest.param("GET", {"offset": "-1", "live": "bogus"}, False, id="bad-live"),
        pytest.param("HEAD", {"live": "sse"}, False, id="head"),
        pytest.param("POST", {"live": "long-poll"}, False, id="append"),
    ],
)
def test_only_long_polls_and_sse_reads_are_live(
    method: str, args: dict[str, str], live: bool
) -> None:
    assert is_live_read(method, args) is live


def test_a_resumable_streams_durable_path_carries_its_id() -> None:
    assert stream_name(f"resumable/{SID}") == SID
    assert stream_name("chat/room-1") == "chat/room-1"
    assert stream_name(SID) == SID  # an id-shaped path: the name of its /streams face too


def test_an_id_shaped_path_that_a_resumable_stream_has_is_another_stream() -> None:
    app = Flask(__name__)
    app.config["STREAMER_DURABLE"] = True
    Streamer(app)
    with app.app_context():
        store = current_store()
        store.create(SID, owner=None)
        store.append(SID, Data(1, "x"))
        assert other_stream(SID)
        assert not other_stream(f"resumable/{SID}")  # that one's own face
        assert not other_stream("b" * 20)  # id-shaped, unknown to the stream store
        assert not other_stream("chat/room-1")  # never a stream id


def test_the_expired_event_is_an_sse_error_event() -> None:
    lines = expired_event().decode().split("\n")
    assert lines[0] == "event: error" and lines[-2:] == ["", ""]
    body = json.loads(lines[1].removeprefix("data:"))
    assert body == {"type": "token_expired", "message": EXPIRED}
