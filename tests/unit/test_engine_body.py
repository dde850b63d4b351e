"""Fast tier of streamer.engine.body (StreamBody, the WSGI iterable): what the producer yields
becomes the stream's records, through a view (tests/unit/test_server_response.py's
make_view_app)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streamer.wire.records import Data, End

from .test_server_response import (  # the views and fixtures of the response tests
    make_view_app,
    records,
)


def test_generator_return_value_goes_into_end() -> None:
    def producer() -> Iterator[str]:
        yield "a"
        return {"usage": {"total_tokens": 2}}

    got = records(make_view_app(producer).get("/p?format=ndjson").data)
    assert got == [Data(1, "a"), End(1, {"usage": {"total_tokens": 2}})]


def test_records_from_the_producer_keep_their_ids() -> None:
    def producer() -> Iterator[Any]:
        yield Data(41, "replayed")
        yield "next"
        yield End(2, {"resumed": True})

    got = records(make_view_app(producer).get("/p?format=ndjson").data)
    assert got == [Data(41, "replayed"), Data(42, "next"), End(2, {"resumed": True})]
