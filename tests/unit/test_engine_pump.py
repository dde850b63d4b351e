"""Fast tier of streamer.engine.pump: a framed stream's producer runs in a greenlet of its own,
so the stream keeps sending heartbeats while the producer is silent."""

from __future__ import annotations

from app import create_app
from streamer.service.settings import ServiceConfig
from streamer.wire.records import Data, End, Ping

from .test_server_response import records


def test_heartbeats_fill_silence_before_and_between_items() -> None:
    # heartbeat 0.05 s; the producer idles 0.2 s first and 0.2 s between its two items.
    client = create_app(ServiceConfig(heartbeat_s=0.05, max_stream_s=5, testing=True)).test_client()
    body = client.get("/_test/stream?count=2&interval=0.2&idle_first=0.2&format=ndjson").data
    got = records(body)
    first_data = next(i for i, r in enumerate(got) if isinstance(r, Data))
    assert first_data >= 2 and all(isinstance(r, Ping) for r in got[:first_data])
    assert isinstance(got[first_data + 1], Ping)
    assert got[-1] == End(2)
