"""Fast tier of streamer.store.durable.memory: create, append, producers, closure, forks,
soft delete, TTL and the wait of a long-poll."""

from __future__ import annotations

import threading
import time

import pytest

from streamer.store.durable import ZERO, AppendSpec, CreateError, CreateSpec, Producer
from streamer.store.durable.memory import MemoryDurableStore


def data(store: MemoryDurableStore, path: str, offset: str = ZERO) -> bytes:
    got = store.read(path, offset)
    assert got is not None
    return b"".join(m.data for m in got[1])


def test_create_is_idempotent_and_conflicts_on_other_config() -> None:
    store = MemoryDurableStore()
    assert store.create("s", CreateSpec("text/plain", data=b"a")).new
    again = store.create("s", CreateSpec("text/plain; charset=utf-8"))
    assert not again.new and again.info.tail > ZERO
    with pytest.raises(CreateError) as caught:
        store.create("s", CreateSpec("application/json"))
    assert caught.value.kind == "conflict"


def test_appends_checks_and_closure() -> None:
    store = MemoryDurableStore()
    store.create("s", CreateSpec("text/plain"))
    first = store.append("s", AppendSpec(b"ab", "text/plain", seq="001"))
    assert first.status == "ok"
    assert store.append("s", AppendSpec(b"x", "text/html")).status == "type_mismatch"
    assert store.append("s", AppendSpec(b"x", "text/plain", seq="001")).status == "seq_conflict"
    closing = store.append("s", AppendSpec(b"cd", "text/plain", close=True))
    assert closing.status == "ok" and closing.closed and closing.tail > first.tail
    assert store.append("s", AppendSpec(b"e", "text/plain")).status == "closed"
    assert store.append("s", AppendSpec(b"", close=True)).status == "ok"  # idempotent close
    assert data(store, "s") == b"abcd"
    assert data(store, "s", first.tail) == b"cd"
    assert store.append("nope", AppendSpec(b"x")).status == "not_found"


def test_a_producers_retry_is_written_once_and_its_closing_retry_is_a_duplicate() -> None:
    store = MemoryDurableStore()
    store.create("s", CreateSpec("text/plain"))
    p0 = Producer("w", 0, 0)
    assert store.append("s", AppendSpec(b"a", "text/plain", producer=p0)).status == "ok"
    assert store.append("s", AppendSpec(b"a", "text/plain", producer=p0)).status == "duplicate"
    last = Producer("w", 0, 1)
    assert store.append("s", AppendSpec(b"b", "text/plain", producer=last, close=True)).closed
    retry = store.append("s", AppendSpec(b"b", "text/plain", producer=last, close=True))
    assert retry.status == "duplicate" and retry.closed
    assert data(store, "s") == b"ab"


def test_a_fork_reads_its_source_up_to_the_fork_then_its_own() -> None:
    store = MemoryDurableStore()
    store.create("src", CreateSpec("text/plain", data=b"one"))
    at = store.append("src", AppendSpec(b"two", "text/plain")).tail
    store.append("src", AppendSpec(b"three", "text/plain"))
    fork = store.create("f", CreateSpec(None, forked_from="src", fork_offset=at)).info
    assert fork.content_type == "text/plain" and fork.tail == at
    store.append("f", AppendSpec(b"!", "text/plain"))
    assert data(store, "f") == b"onetwo!"
    with pytest.raises(CreateError):
        store.create("g", CreateSpec(None, forked_from="missing"))
    # Deleting the source while forked: 410 for it, the fork still reads it.
    assert store.delete("src") == "deleted"
    info = store.info("src")
    assert info is not None and info.soft_deleted
    assert store.delete("src") == "gone"
    assert data(store, "f") == b"onetwo!"
    assert store.delete("f") == "deleted"
    assert store.info("src") is None  # the cascade removed the source


def test_a_ttl_slides_with_reads() -> None:
    store = MemoryDurableStore()
    store.create("s", CreateSpec("text/plain", ttl_s=1))
    time.sleep(0.6)
    assert store.read("s", ZERO) is not None
    time.sleep(0.6)
    assert store.info("s") is not None  # the read slid it
    time.sleep(1.1)
    assert store.info("s") is None


def test_wait_returns_on_an_append_not_after_its_timeout() -> None:
    store = MemoryDurableStore()
    tail = store.create("s", CreateSpec("text/plain")).info.tail
    threading.Timer(0.1, store.append, ("s", AppendSpec(b"x", "text/plain"))).start()
    started = time.monotonic()
    store.wait("s", tail, 5)
    assert time.monotonic() - started < 2
    assert data(store, "s", tail) == b"x"
    started = time.monotonic()
    store.wait("s", store.info("s").tail, 0.2)  # type: ignore[union-attr]
    assert 0.15 < time.monotonic() - started < 2


def test_the_bound_refuses_rather_than_evicts_and_deleting_makes_room() -> None:
    from streamer.errors import Unavailable
    from streamer.store.durable.memory import MESSAGE_COST, STREAM_COST

    store = MemoryDurableStore(max_bytes=2 * STREAM_COST + 3 * (100 + MESSAGE_COST))
    store.create("a", CreateSpec("text/plain", data=b"x" * 100))
    store.create("b", CreateSpec("text/plain"))
    assert store.append("a", AppendSpec(b"y" * 100, "text/plain")).status == "ok"
    assert store.append("b", AppendSpec(b"z" * 100, "text/plain")).status == "ok"
    with pytest.raises(Unavailable) as caught:
        store.append("b", AppendSpec(b"z" * 100, "text/plain"))
    assert caught.value.type == "store_full" and caught.value.status == 503
    with pytest.raises(Unavailable):
        store.create("c", CreateSpec("text/plain"))
    assert data(store, "a") == b"x" * 100 + b"y" * 100  # nothing was evicted
    assert store.delete("a") == "deleted"
    assert store.append("b", AppendSpec(b"z" * 100, "text/plain")).status == "ok"
    assert store.create("c", CreateSpec("text/plain")).new
