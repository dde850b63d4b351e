"""Fast tier of streamer.engine.ending: how a stream ends (an error record after the first item,
close() running the producer's finally at once)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import pytest
from flask.testing import FlaskClient

from streamer.errors import UpstreamError
from streamer.records import Data, End, Error
from streamer.response import StreamAborted

from .test_response import (  # the views and fixtures of the response tests
    make_view_app,
    records,
)


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_failure_after_first_item_writes_error_and_no_end(client: FlaskClient, fmt: str) -> None:
    response = client.get(f"/_test/stream?count=5&fail_after=3&format={fmt}")
    assert response.status_code == 200
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    got = records(body, fmt)
    assert got[-1] == Error("internal_error", "internal error")
    assert [r.id for r in got if isinstance(r, Data)] == [1, 2, 3]
    assert not any(isinstance(r, End) for r in got)


def test_text_failure_after_first_item_aborts(client: FlaskClient) -> None:
    response = client.get("/_test/stream?count=5&fail_after=2")
    with pytest.raises(StreamAborted):
        b"".join(response.response)


def test_streamer_error_after_first_item_keeps_its_type() -> None:
    def producer() -> Iterator[str]:
        yield "a"
        raise UpstreamError("upstream went away", type="upstream_disconnected")

    response = make_view_app(producer).get("/p?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    assert records(body)[-1] == Error("upstream_disconnected", "upstream went away")


def test_closing_the_response_runs_the_producers_finally() -> None:
    state: list[str] = []

    def producer() -> Iterator[str]:
        try:
            yield "first"
            gevent.sleep(60)
            yield "never"
        finally:
            state.append("finally")

    response = make_view_app(producer).get("/p")
    it = iter(response.response)
    assert next(it) == b"first"
    started = time.monotonic()
    response.close()
    gevent.sleep(0)
    assert state == ["finally"]
    assert time.monotonic() - started < 0.1
