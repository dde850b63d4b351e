"""Fast tier of streamer.state: what the extension keeps per app."""

from __future__ import annotations

import dataclasses

from streamer.config import Config
from streamer.registry import StreamRegistry
from streamer.state import StreamerState
from streamer.store.memory import MemoryStore


def test_each_app_gets_its_own_observers_and_no_metrics_by_default() -> None:
    config = Config()
    one = StreamerState(config, StreamRegistry(), MemoryStore(config))
    two = StreamerState(config, StreamRegistry(), MemoryStore(config))
    one.observers.append(object())  # type: ignore[arg-type]
    assert two.observers == [] and one.metrics is None


def test_the_state_is_slotted() -> None:
    assert "__slots__" in vars(StreamerState)
    assert [f.name for f in dataclasses.fields(StreamerState)] == [
        "config", "registry", "store", "observers", "metrics"]
