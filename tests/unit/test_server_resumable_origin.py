"""Fast tier of streamer.server.resumable.origin: the reader that started a resumable stream holds
its producer back (through the view: tests/unit/test_server_resumable.py's app)."""

from __future__ import annotations

import pytest

from app import create_app
from streamer.service.settings import ServiceConfig
from streamer.wire.records import End

from .test_server_resumable import _tail, chunks, decode, wait_for


@pytest.mark.timeout(20)
def test_the_originating_reader_holds_a_fast_producer_back_until_it_leaves() -> None:
    # A store bound of 5 records and a producer of 200 with no pause: the reader that started
    # the stream still gets all of it (tests/unit/test_service_openapi.py has the 410 this used to
    # be). Once it leaves, the producer runs free to the end; the bound then keeps only the tail.
    client = create_app(
        ServiceConfig(heartbeat_s=0.2, max_stream_s=10, lease_s=1.0, resumable_max_records=5)
    ).test_client()
    whole = client.get("/stream/data?count=200&interval=0&resumable=1&format=ndjson")
    assert decode(whole.data) == [*chunks(200), End(200)]
    left = client.get("/stream/data?count=200&interval=0&resumable=1&format=ndjson", buffered=False)
    sid = left.headers["X-Stream-Id"]
    next(iter(left.response))
    left.close()
    tail = wait_for(lambda: _tail(client, sid), 5, "the producer to finish once free")
    assert tail == [*chunks(200)[196:], End(200)]
