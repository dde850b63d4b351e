"""Fast tier of streamer.server.durable.settings: a fork's source named with or without the
mount."""

from __future__ import annotations

from streamer.server.durable.settings import DurableSettings
from streamer.store.durable.memory import MemoryDurableStore


def test_stream_path() -> None:
    settings = DurableSettings(MemoryDurableStore(), "/v1/stream", 1.0, 1.0, 1024)
    assert settings.stream_path("/v1/stream/a/b") == "a/b"
    assert settings.stream_path("a/b") == "a/b"
    assert settings.stream_path("/a/b") == "a/b"
