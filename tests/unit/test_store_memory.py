"""Fast tier of streamer.store.memory: what only the memory store does (its bounds); the store's
contract on it is tests/unit/test_store.py."""

from __future__ import annotations

import pytest

from streamer.config import Config
from streamer.errors import NotFound, Unavailable
from streamer.store.memory import MemoryStore
from streamer.wire.records import Data, End

from .test_store import started


def test_memory_store_bounds_the_number_of_streams() -> None:
    store = MemoryStore(Config(resumable_max_streams=2, lease_s=30))
    first, second = started(store, 1), started(store, 1)
    with pytest.raises(Unavailable) as info:
        started(store)  # both still running: refused, not evicted
    assert info.value.status == 503 and info.value.retry_after
    store.append(first, End(1))
    third = started(store)  # the oldest finished stream made room
    with pytest.raises(NotFound):
        store.read(first, 0, 0)
    assert store.read(second, 0, 0) == [Data(1, "r1")]
    assert store.read(third, 0, 0) == []


def test_memory_store_is_bounded_in_bytes_evicting_finished_streams_first() -> None:
    store = MemoryStore(Config(resumable_max_bytes=1 << 20, lease_s=30))
    payload = "x" * 1000
    done = started(store)
    for i in range(1, 301):  # ~330 KB
        store.append(done, Data(i, payload))
    store.append(done, End(300))
    running = started(store)
    i = 0
    with pytest.raises(Unavailable) as info:
        for i in range(1, 2000):  # past 1 MiB: the finished stream goes first, then refused
            store.append(running, Data(i, payload))
    assert info.value.type == "store_full" and info.value.status == 503
    assert 900 < i < 1000
    with pytest.raises(NotFound):
        store.read(done, 0, 0)
    assert store.bytes <= 1 << 20
    with pytest.raises(Unavailable):
        started(store)  # full of running streams: a new one is refused before it grows
    assert store.append(running, End(i - 1))  # a terminal record always fits
    started(store)  # and now the finished one makes room
    assert store.bytes < 1 << 20
