"""Real tier of streamer.store.durable.redis against a real redis-server: the same contract
as the memory backend (tests/unit/test_store_durable_memory.py), atomic producers under
concurrent retries, and a reader woken by another store instance's append (as a reader in
one process is by a writer in another), within milliseconds, not a poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from streamer.config import Config
from streamer.store.durable import ZERO, AppendSpec, CreateError, CreateSpec, Producer
from streamer.store.durable.redis import RedisDurableStore

from ..redis_fixture import RedisServer, redis_server

pytestmark = pytest.mark.real

__all__ = ["redis_server"]


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisDurableStore]:
    s = RedisDurableStore(Config(redis_url=redis_server.url))
    yield s
    s.close()


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def data(store: RedisDurableStore, path: str, offset: str = ZERO) -> bytes:
    got = store.read(path, offset)
    assert got is not None
    return b"".join(m.data for m in got[1])


def test_appends_closure_and_stream_seq(store: RedisDurableStore) -> None:
    path = unique("s")
    assert store.create(path, CreateSpec("text/plain", data=b"a")).new
    assert not store.create(path, CreateSpec("text/plain")).new
    with pytest.raises(CreateError):
        store.create(path, CreateSpec("application/json"))
    assert store.append(path, AppendSpec(b"b", "text/plain", seq="2")).status == "ok"
    assert store.append(path, AppendSpec(b"c", "text/plain", seq="1")).status == "seq_conflict"
    assert store.append(path, AppendSpec(b"c", "text/html")).status == "type_mismatch"
    assert store.append(path, AppendSpec(b"", close=True)).closed
    assert store.append(path, AppendSpec(b"d", "text/plain")).status == "closed"
    assert data(store, path) == b"ab"


def test_concurrent_retries_of_one_producer_write_once(store: RedisDurableStore) -> None:
    path = unique("p")
    store.create(path, CreateSpec("text/plain"))
    results: list[str] = []

    def send(seq: int) -> None:
        spec = AppendSpec(f"{seq};".encode(), "text/plain", producer=Producer("w", 0, seq))
        results.append(store.append(path, spec).status)

    for seq in range(20):
        threads = [threading.Thread(target=send, args=(seq,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results.count("ok") == 20 and results.count("duplicate") == 60
    assert data(store, path) == b"".join(f"{i};".encode() for i in range(20))


def test_forks_soft_delete_and_the_cascade(
    store: RedisDurableStore, redis_server: RedisServer
) -> None:
    src, fork = unique("src"), unique("fork")
    store.create(src, CreateSpec("text/plain", data=b"one"))
    at = store.append(src, AppendSpec(b"two", "text/plain")).tail
    store.append(src, AppendSpec(b"three", "text/plain"))
    store.create(fork, CreateSpec(None, forked_from=src, fork_offset=at))
    store.append(fork, AppendSpec(b"!", "text/plain"))
    assert data(store, fork) == b"onetwo!"
    assert store.delete(src) == "deleted" and store.delete(src) == "gone"
    assert data(store, fork) == b"onetwo!"
    assert store.delete(fork) == "deleted"
    assert store.info(src) is None
    client = redis.Redis.from_url(redis_server.url)
    assert not client.keys(f"streamer:ds:{{ds}}:*:{src}")  # nothing left behind


def test_a_ttl_slides_and_the_keys_carry_an_expiry(
    store: RedisDurableStore, redis_server: RedisServer
) -> None:
    path = unique("ttl")
    store.create(path, CreateSpec("text/plain", ttl_s=1, data=b"x"))
    client = redis.Redis.from_url(redis_server.url)
    assert 0 < client.pttl(f"streamer:ds:{{ds}}:m:{path}") <= 61_000
    time.sleep(0.6)
    assert store.read(path, ZERO) is not None
    time.sleep(0.6)
    assert store.info(path) is not None
    time.sleep(1.1)
    assert store.info(path) is None


@pytest.mark.timeout(20)
def test_a_waiting_reader_is_woken_by_another_instances_append(
    store: RedisDurableStore, redis_server: RedisServer
) -> None:
    other = RedisDurableStore(Config(redis_url=redis_server.url))
    try:
        path = unique("w")
        tail = store.create(path, CreateSpec("text/plain")).info.tail
        store.wait(path, tail, 0.3)  # subscribes this process's listener
        appended: list[float] = []

        def write() -> None:
            appended.append(time.monotonic())
            other.append(path, AppendSpec(b"x", "text/plain"))

        threading.Timer(0.2, write).start()
        store.wait(path, tail, 5)
        woke = time.monotonic()
        assert appended and woke - appended[0] < 0.25  # the message, not the 1 s re-check
        assert data(store, path, tail) == b"x"
    finally:
        other.close()
