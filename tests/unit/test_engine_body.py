"""Fast tier of streamer.engine.body (StreamBody, the WSGI iterable): what the producer yields
becomes the stream's records, through a view (tests/unit/test_server_response.py's
make_view_app)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from streamer.wire.records import Data, End, Ping

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


def sse_blocks(body: bytes) -> list[list[str]]:
    """The field lines of each block of an SSE body (comments dropped), as a client sees
    them: a block ends at a blank line."""
    blocks, lines = [], []
    for line in body.decode().split("\n"):
        if line:
            if not line.startswith(":"):
                lines.append(line)
        else:
            blocks.append(lines)
            lines = []
    return blocks


@pytest.mark.timeout(10)
@pytest.mark.parametrize("wait_s", [0, 0.3, 0.5], ids=["ready", "after-the-first-write", "pings"])
@pytest.mark.parametrize("items", [["a", "b"], []], ids=["data", "only-end"])
def test_sse_retry_rides_on_the_first_event_never_a_block_of_its_own(
    wait_s: float, items: list[str]
) -> None:
    # httpx-sse and @microsoft/fetch-event-source deliver an empty event for a block that
    # has a retry field and no data; the first real event carries it instead. With wait_s
    # past the heartbeat (0.2 s) the first write has no record and pings come first.
    def producer() -> Iterator[str]:
        gevent.sleep(wait_s)
        yield from items

    body = make_view_app(producer).get("/p?format=sse").data
    blocks = [b for b in sse_blocks(body) if b]
    assert all(any(f.startswith("data:") for f in b) for b in blocks), body
    assert blocks[0][0] == "retry: 3000", body
    assert sum(f.startswith("retry:") for b in blocks for f in b) == 1, body
    got = [r for r in records(body, "sse") if not isinstance(r, Ping)]
    assert got == [*(Data(i, x) for i, x in enumerate(items, 1)), End(len(items))]
