"""Fast tier: the stream store's contract on the memory backend; tests/real/test_store_redis.py
runs the same test functions on a real ``redis-server`` and a Redis Cluster. Nothing here is
monkey-patched, so a blocked Redis call blocks the thread: where a test needs something to
happen *during* a blocked call, :func:`later` runs it in a thread for Redis and in a greenlet
for the memory store (which waits on gevent events).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest

from streamer.config import Config
from streamer.errors import BadRequest, NotFound, RecordsExpired
from streamer.store import StreamStore, new_stream_id, open_store, valid_stream_id
from streamer.store.memory import MemoryStore
from streamer.wire.records import Data, End, Error

from ..redis_cluster_fixture import RedisCluster
from ..redis_fixture import RedisServer
from ..redis_sentinel_fixture import RedisSentinel


class Stores:
    """``make_store``: builds stores of the parametrized backend with config overrides (closed
    afterwards); ``pass_time(s)`` lets ``s`` seconds go by for them. On the memory store that
    is at once (its clock is a fake one: leases and TTLs lapse without waiting), on Redis it is
    a real sleep (Redis keeps the time)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._stores: list[StreamStore] = []
        self._now = 1000.0

    def __call__(self, **changes: Any) -> StreamStore:
        cfg = Config(**changes)
        backend = self._request.param
        store: StreamStore
        if backend == "memory":
            store = MemoryStore(cfg, clock=lambda: self._now)
        elif backend == "redis":
            server: RedisServer = self._request.getfixturevalue("redis_server")
            store = open_store(cfg.with_(redis_url=server.url))
        elif backend == "redis-sentinel":
            sentinel: RedisSentinel = self._request.getfixturevalue("redis_sentinel")
            store = open_store(cfg.with_(redis_url=sentinel.url))
        else:
            cluster: RedisCluster = self._request.getfixturevalue("redis_cluster")
            store = open_store(cfg.with_(redis_url=cluster.url))
        self._stores.append(store)
        return store

    def pass_time(self, seconds: float) -> None:
        if self._request.param == "memory":
            self._now += seconds
        else:
            time.sleep(seconds)

    def close(self) -> None:
        for store in self._stores:
            store.close()


MakeStore = Stores


def stores(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    """The ``make_store`` fixture of a backend given by ``request.param``."""
    made = Stores(request)
    yield made
    made.close()


@pytest.fixture(params=["memory"])  # "redis", "redis-cluster": tests/real/test_store_redis.py
def make_store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    yield from stores(request)


class later:  # a class that reads as a function at the call site
    """Run ``fn`` after ``delay`` s, concurrently with a blocked store call; ``join()`` it."""

    def __init__(self, store: StreamStore, delay: float, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = fn()
            except BaseException as exc:  # re-raised by join()
                self.error = exc

        if store.name == "memory":
            self._glet: Any = gevent.spawn_later(delay, run)
            self._thread: threading.Timer | None = None
        else:
            self._thread = threading.Timer(delay, run)
            self._thread.start()

    def join(self, timeout: float = 10.0) -> Any:
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._glet.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result


def started(store: StreamStore, records: int = 0, end: bool = False) -> str:
    sid = new_stream_id()
    store.create(sid)
    for i in range(1, records + 1):
        assert store.append(sid, Data(i, f"r{i}"))
    if end:
        assert store.append(sid, End(records))
    return sid


@pytest.mark.timeout(20)
def test_replay_from_any_id_includes_the_terminal_record(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 3, end=True)
    assert store.read(sid, 0, 0) == [Data(1, "r1"), Data(2, "r2"), Data(3, "r3"), End(3)]
    assert store.read(sid, 2, 0) == [Data(3, "r3"), End(3)]
    assert store.read(sid, 3, 0) == [End(3)]


@pytest.mark.timeout(20)
def test_payloads_and_extras_survive_the_store(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store)
    payload = {"text": "h\u00e9llo\u2028world\n", "n": [1, 2.5, None]}
    store.append(sid, Data(1, payload))
    store.append(sid, Data(2, "<tr>\n</tr>", "row"))  # an event name (streamer.Event) too
    store.append(sid, End(2, {"usage": {"total_tokens": 7}}))
    assert store.read(sid, 0, 0) == [
        Data(1, payload),
        Data(2, "<tr>\n</tr>", "row"),
        End(2, {"usage": {"total_tokens": 7}}),
    ]


@pytest.mark.timeout(20)
def test_unknown_stream(make_store: MakeStore) -> None:
    store = make_store()
    sid = new_stream_id()
    with pytest.raises(NotFound):
        store.read(sid, 0, 0.1)
    with pytest.raises(NotFound):
        store.cancel(sid)
    assert store.append(sid, Data(1, "x")) is False
    assert store.reap(sid) is False
    assert store.keep_alive(sid, 0.01) is False


@pytest.mark.timeout(20)
def test_a_resume_past_the_end_is_a_bad_request(make_store: MakeStore) -> None:
    store = make_store()
    running = started(store, 2)
    with pytest.raises(BadRequest):
        store.read(running, 3, 0)
    if store.can_lose_streams:
        # Redis: a reader may have seen a record a failover lost; a waiting read waits for
        # the producer to write it again or to end the stream (test_redis_failover.py).
        assert store.read(running, 3, 0.1) == []
    else:
        with pytest.raises(BadRequest):
            store.read(running, 3, 0.1)
    assert store.read(running, 2, 0) == []  # the next record is not there yet: fine
    finished = started(store, 2, end=True)
    with pytest.raises(BadRequest):
        store.read(finished, 3, 0.1)


@pytest.mark.timeout(20)
def test_a_blocked_read_wakes_on_append(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 1)
    writer = later(store, 0.2, lambda: store.append(sid, Data(2, "live")))
    start = time.monotonic()
    got = store.read(sid, 1, 4.0)
    waited = time.monotonic() - start
    writer.join()
    assert got == [Data(2, "live")]
    assert waited < 2.0, waited  # woken by the append, not by the end of the wait


@pytest.mark.timeout(20)
def test_an_idle_read_returns_empty_after_its_wait(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 1)
    start = time.monotonic()
    assert store.read(sid, 1, 0.3) == []
    assert time.monotonic() - start >= 0.25


@pytest.mark.timeout(20)
def test_appends_are_idempotent_and_in_sequence(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 2)
    assert store.append(sid, Data(2, "again")) is True  # a retried append: no duplicate
    with pytest.raises(ValueError):
        store.append(sid, Data(5, "gap"))
    assert store.read(sid, 0, 0) == [Data(1, "r1"), Data(2, "r2")]


@pytest.mark.timeout(20)
def test_a_finished_stream_takes_nothing_more(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 1, end=True)
    assert store.append(sid, Data(2, "late")) is False
    assert store.append(sid, Error("x", "y")) is False
    assert store.cancel(sid) is False
    assert store.reap(sid) is False
    assert store.keep_alive(sid, 0.01) is False
    assert store.read(sid, 0, 0) == [Data(1, "r1"), End(1)]


@pytest.mark.timeout(20)
def test_cancel_wakes_the_owner_and_ends_the_stream_for_readers(make_store: MakeStore) -> None:
    store = make_store()
    sid = started(store, 2)
    canceller = later(store, 0.2, lambda: store.cancel(sid))
    start = time.monotonic()
    assert store.keep_alive(sid, 4.0) is False  # the owner: told to stop
    waited = time.monotonic() - start
    assert canceller.join() is True
    assert waited < 1.5, waited
    assert store.read(sid, 2, 0) == [Error("cancelled", "the stream was cancelled")]
    assert store.append(sid, Data(3, "after cancel")) is False
    assert store.cancel(sid) is False


@pytest.mark.timeout(20)
def test_an_expired_lease_is_reaped_as_producer_lost(make_store: MakeStore) -> None:
    store = make_store(lease_s=0.3)
    sid = started(store, 1)
    assert store.reap(sid) is False  # the lease is fresh
    make_store.pass_time(0.5)
    assert store.reap(sid) is True
    assert store.reap(sid) is False  # once
    assert store.read(sid, 1, 0) == [
        Error("producer_lost", "the stream's producer stopped responding")
    ]
    assert store.append(sid, Data(2, "zombie")) is False  # a slow owner learns it lost


@pytest.mark.timeout(20)
def test_keep_alive_holds_the_lease(make_store: MakeStore) -> None:
    store = make_store(lease_s=0.3)
    sid = started(store, 1)
    for _ in range(9):  # three leases
        assert store.keep_alive(sid, 0) is True
        make_store.pass_time(0.1)
        assert store.reap(sid) is False


@pytest.mark.timeout(20)
def test_finished_streams_expire_after_the_ttl(make_store: MakeStore) -> None:
    store = make_store(stream_ttl_s=1.0, lease_s=0.5)
    done = started(store, 2, end=True)
    orphan = started(store, 1)  # running, never renewed: ttl + lease
    assert store.read(done, 0, 0)[-1] == End(2)
    make_store.pass_time(0.5)
    assert store.read(done, 0, 0)[-1] == End(2)  # not before the ttl
    make_store.pass_time(0.7)
    with pytest.raises(NotFound):
        store.read(done, 0, 0)
    make_store.pass_time(0.5)
    with pytest.raises(NotFound):
        store.read(orphan, 0, 0)


@pytest.mark.timeout(20)
def test_records_per_stream_are_bounded_and_a_gap_is_never_silent(make_store: MakeStore) -> None:
    store = make_store(resumable_max_records=5)
    sid = started(store, 12)
    with pytest.raises(RecordsExpired):
        store.read(sid, 0, 0)
    assert [r.id for r in store.read(sid, 7, 0) if isinstance(r, Data)] == [8, 9, 10, 11, 12]
    assert store.append(sid, End(12))
    assert store.read(sid, 12, 0) == [End(12)]
    with pytest.raises(RecordsExpired):
        store.read(sid, 7, 0)  # the end pushed record 8 out


def test_stream_ids_are_unguessable_and_checked() -> None:
    ids = {new_stream_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) >= 43 and valid_stream_id(i) == i for i in ids)
    for bad in ("short", "../../etc/passwd-xxxxxxxxxxx", "a" * 65, "x" * 20 + ":meta", ""):
        with pytest.raises(NotFound):
            valid_stream_id(bad)


@pytest.mark.timeout(20)
def test_a_stream_keeps_its_owner_and_an_owner_is_limited(make_store: MakeStore) -> None:
    from streamer.errors import StreamerError

    store = make_store(lease_s=0.4)
    owner = f"key{new_stream_id()[:8]}"  # the Redis server is shared: an owner of its own
    first, second = new_stream_id(), new_stream_id()
    store.create(first, owner, 2)
    store.create(second, owner, 2)
    assert store.owner(first) == owner and store.owner(started(store)) is None
    with pytest.raises(StreamerError) as info:
        store.create(new_stream_id(), owner, 2)
    assert info.value.status == 429 and info.value.type == "too_many_streams_for_key"
    store.append(first, End(0))  # a finished stream frees its slot at once
    third = new_stream_id()
    store.create(third, owner, 2)
    with pytest.raises(NotFound):
        store.owner(new_stream_id())
    # Producers that stop renewing (a dead worker) free their slots within a lease.
    make_store.pass_time(0.6)
    store.create(new_stream_id(), owner, 2)
    store.create(new_stream_id(), owner, 2)


@pytest.mark.timeout(20)
def test_a_name_points_at_its_latest_stream_until_streams_could_expire(
    make_store: MakeStore,
) -> None:
    store = make_store(stream_ttl_s=1.0, lease_s=0.5, max_stream_s=1.0)
    assert store.named("chat-1") is None
    first, second = started(store, 1), started(store, 1)
    store.name_stream("chat-1", first)
    store.name_stream("chat: 2/ü", second)  # any text: the Redis stores hash it
    assert (store.named("chat-1"), store.named("chat: 2/ü")) == (first, second)
    store.name_stream("chat-1", second)  # a new answer in the same chat
    assert store.named("chat-1") == second
    make_store.pass_time(2.0)
    assert store.named("chat-1") == second  # max_stream_s + stream_ttl_s + lease_s: 2.5 s
    make_store.pass_time(0.7)
    assert store.named("chat-1") is None
