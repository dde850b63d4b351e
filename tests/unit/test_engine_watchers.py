"""Fast tier of streamer.engine.watchers: stop requests from outside the producer (the deadline
here; disconnects and the send guard need a real socket: tests/real/test_slow_clients.py)."""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

from streamer.server.response import StreamAborted
from streamer.wire.records import Error

from .test_server_response import (  # the views and fixtures of the response tests
    make_view_app,
    records,
)


def test_maximum_stream_duration_ends_with_a_timeout_record() -> None:
    closed: list[bool] = []

    def producer() -> Iterator[str]:
        try:
            while True:
                yield "tick"
                gevent.sleep(0.05)
        finally:
            closed.append(True)

    response = make_view_app(producer, max_stream_s=0.3).get("/p?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    last = records(body)[-1]
    assert isinstance(last, Error) and last.type == "timeout"
    gevent.sleep(0.05)
    assert closed == [True]
