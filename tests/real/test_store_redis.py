"""Real tier of tests/unit/test_store.py: the store's contract on a real redis-server and a Redis
Cluster (the same test functions, imported), and what only Redis does.

The Redis backend talks to a real ``redis-server`` (tests/redis_fixture.py). Nothing here is
monkey-patched, so a blocked Redis call blocks the thread: where a test needs something to
happen *during* a blocked call, :func:`later` runs it in a thread for Redis and in a greenlet
for the memory store (which waits on gevent events).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamer.config import Config
from streamer.errors import BadRequest, NotFound, StoreUnavailable
from streamer.store import STORE_LOST, StreamStore, new_stream_id, open_store
from streamer.wire.records import Data, End

from ..ports import free_port
from ..redis_cluster_fixture import redis_cluster
from ..redis_fixture import RedisServer, fresh_redis, redis_server
from ..redis_sentinel_fixture import redis_sentinel
from ..unit.test_store import (
    MakeStore,
    started,
    stores,
    test_a_blocked_read_wakes_on_append,
    test_a_finished_stream_takes_nothing_more,
    test_a_name_points_at_its_latest_stream_until_streams_could_expire,
    test_a_resume_past_the_end_is_a_bad_request,
    test_a_stream_keeps_its_owner_and_an_owner_is_limited,
    test_an_expired_lease_is_reaped_as_producer_lost,
    test_an_idle_read_returns_empty_after_its_wait,
    test_appends_are_idempotent_and_in_sequence,
    test_cancel_wakes_the_owner_and_ends_the_stream_for_readers,
    test_finished_streams_expire_after_the_ttl,
    test_keep_alive_holds_the_lease,
    test_payloads_and_extras_survive_the_store,
    test_records_per_stream_are_bounded_and_a_gap_is_never_silent,
    test_replay_from_any_id_includes_the_terminal_record,
    test_unknown_stream,
)

# Fixtures, imported for pytest, and the contract's tests, collected here again with make_store
# on Redis.
__all__ = [
    "fresh_redis",
    "redis_cluster",
    "redis_sentinel",
    "redis_server",
    "test_a_blocked_read_wakes_on_append",
    "test_a_finished_stream_takes_nothing_more",
    "test_a_name_points_at_its_latest_stream_until_streams_could_expire",
    "test_a_resume_past_the_end_is_a_bad_request",
    "test_a_stream_keeps_its_owner_and_an_owner_is_limited",
    "test_an_expired_lease_is_reaped_as_producer_lost",
    "test_an_idle_read_returns_empty_after_its_wait",
    "test_appends_are_idempotent_and_in_sequence",
    "test_cancel_wakes_the_owner_and_ends_the_stream_for_readers",
    "test_finished_streams_expire_after_the_ttl",
    "test_keep_alive_holds_the_lease",
    "test_payloads_and_extras_survive_the_store",
    "test_records_per_stream_are_bounded_and_a_gap_is_never_silent",
    "test_replay_from_any_id_includes_the_terminal_record",
    "test_unknown_stream",
]


@pytest.fixture(params=["redis", "redis-cluster", "redis-sentinel"])
def make_store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    yield from stores(request)


@pytest.mark.timeout(20)
def test_redis_keys_are_bounded_and_expire(redis_server: RedisServer) -> None:
    import redis

    store = open_store(
        Config(redis_url=redis_server.url, resumable_max_records=5, stream_ttl_s=30, lease_s=5)
    )
    client = redis.Redis.from_url(redis_server.url)
    try:
        sid = started(store, 50, end=True)
        assert client.xlen(f"streamer:{{{sid}}}:log") == 5
        for key in ("meta", "log"):
            ttl = client.pttl(f"streamer:{{{sid}}}:{key}")
            assert 0 < ttl <= 30_000, (key, ttl)
        assert client.exists(f"streamer:{{{sid}}}:lease") == 0  # finished: no lease
    finally:
        client.close()
        store.close()


@pytest.mark.timeout(20)
def test_unreachable_redis_is_a_prompt_store_unavailable() -> None:
    port = free_port()  # nobody listens on it
    store = open_store(Config(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.5))
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.create(new_stream_id())
        assert time.monotonic() - start < 5
    finally:
        store.close()


@pytest.mark.timeout(20)
def test_a_redis_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog), never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        store = open_store(Config(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.5))
        try:
            start = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                store.read(new_stream_id(), 0, 1.0)
            # Each call: one timed-out try of 0.5 s (a timeout is not retried).
            elapsed = time.monotonic() - start
            assert elapsed < 4, elapsed
        finally:
            store.close()


@pytest.mark.timeout(40)
def test_a_redis_restart_is_unavailable_then_store_lost_once_the_producer_knows(
    fresh_redis: RedisServer,
) -> None:
    """Persistence is off: the stream is gone. Until its producer next writes, nobody knows it
    existed (404); its next append leaves a tombstone, and the stream then ends with
    ``store_lost`` for every reader instead of continuing as a partial one."""
    store = open_store(Config(redis_url=fresh_redis.url, redis_timeout_s=0.5))
    elsewhere = open_store(Config(redis_url=fresh_redis.url, redis_timeout_s=0.5))
    try:
        sid = started(store, 2)
        orphan = started(elsewhere, 1)  # its producer is gone too (never writes again)
        fresh_redis.stop()
        with pytest.raises(StoreUnavailable):
            store.read(sid, 2, 0.5)
        with pytest.raises(StoreUnavailable):
            store.append(sid, Data(3, "x"))
        fresh_redis.start()
        with pytest.raises(NotFound):
            store.read(sid, 2, 0.5)
        assert store.append(sid, Data(3, "x")) is False  # stop: and now the store knows
        assert store.read(sid, 2, 0.5) == [STORE_LOST]
        with pytest.raises(NotFound):
            store.read(orphan, 1, 0)  # nobody left to say it existed
        store.ping()
        assert store.read(started(store, 1), 0, 0) == [Data(1, "r1")]
    finally:
        elsewhere.close()
        store.close()


def _lose(store: StreamStore, sid: str) -> None:
    """What a restart without persistence (or a FLUSHALL) does to one stream: its keys go.
    Through the store's own client, so that it works on a cluster too (one slot)."""
    base = f"streamer:{{{sid}}}:"
    store._quick.delete(base + "meta", base + "log", base + "lease")  # type: ignore[attr-defined]


@pytest.mark.timeout(20)
def test_an_append_to_a_lost_stream_leaves_a_tombstone_of_store_lost(
    make_store: MakeStore,
) -> None:
    store = make_store(stream_ttl_s=30, lease_s=5)
    sid = new_stream_id()
    store.create(sid, "key1", 5)
    for i in (1, 2, 3):
        assert store.append(sid, Data(i, f"r{i}"))
    _lose(store, sid)
    assert store.append(sid, Data(4, "r4")) is False  # not re-created as a partial stream
    # Every reader, from any id it could have, gets the in-band end; store_lost is record 4.
    for after in (0, 2, 3):
        assert store.read(sid, after, 0.2) == [STORE_LOST]
    with pytest.raises(BadRequest):
        store.read(sid, 4, 0)  # past it, as past any stream's end
    assert store.owner(sid) == "key1"  # still its owner's only
    assert store.keep_alive(sid, 0.01) is False
    assert store.cancel(sid) is False and store.reap(sid) is False  # finished
    assert store.append(sid, Data(4, "r4")) is False
    client: Any = store._quick  # type: ignore[attr-defined]
    base = f"streamer:{{{sid}}}:"
    assert client.exists(base + "log") == 0 and client.exists(base + "lease") == 0
    assert 0 < client.pttl(base + "meta") <= 30_000  # kept as a finished stream is


def _lose_the_last(store: StreamStore, sid: str, n: int) -> None:
    """What a failover to a replica that had not yet received a stream's last ``n`` records
    leaves: the stream as it was ``n`` appends ago (Redis replicates asynchronously)."""
    client: Any = store._quick  # type: ignore[attr-defined]
    base = f"streamer:{{{sid}}}:"
    last = int(client.hget(base + "meta", "last"))
    kept = client.xrange(base + "log", "-", f"0-{last - n}")
    client.delete(base + "log")  # XDEL would keep the stream's top id: a replica has not
    for entry_id, fields in kept:
        client.xadd(base + "log", fields, id=entry_id)
    client.hset(base + "meta", "last", last - n)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("then", ["append", "end", "renewal"])
def test_acknowledged_records_lost_in_a_failover_end_the_stream_with_store_lost(
    make_store: MakeStore, then: str
) -> None:
    """The producer was told records 1-3 are in; the store now holds 1-2. Going on would give
    a reader that saw 3 a different 3 (or a 400 on its resume): the owner's next write or
    renewal leaves a tombstone instead, and every reader ends in-band with store_lost."""
    store = make_store(stream_ttl_s=30, lease_s=5)
    sid = started(store, 3)
    _lose_the_last(store, sid, 1)
    if then == "append":
        assert store.append(sid, Data(4, "r4")) is False
    elif then == "end":
        assert store.append(sid, End(3)) is False
    else:
        assert store.keep_alive(sid, 0.01) is False
    for after in (0, 2, 3):
        assert store.read(sid, after, 0.2) == [STORE_LOST]
    assert store.append(sid, Data(4, "r4")) is False
    # A record the owner was never told is in (its reply lost with the primary) is simply
    # written again: the same record, so a reader that saw it sees no change.
    other = started(store, 2)
    _lose_the_last(store, other, 1)
    store._written[other] = 1  # type: ignore[attr-defined]  # record 2's reply never came
    assert store.append(other, Data(2, "r2")) and store.append(other, End(2))
    assert store.read(other, 0, 0) == [Data(1, "r1"), Data(2, "r2"), End(2)]


@pytest.mark.timeout(20)
def test_a_lease_renewal_finds_a_lost_stream_and_stops_its_owner(make_store: MakeStore) -> None:
    store = make_store(lease_s=5)
    sid = started(store, 2)
    _lose(store, sid)
    assert store.keep_alive(sid, 0.01) is False
    assert store.read(sid, 2, 0) == [STORE_LOST]
    assert store.append(sid, Data(3, "r3")) is False
    # Someone else's write to a lost stream that nobody marked stays an unknown stream.
    other = started(store, 1)
    _lose(store, other)
    with pytest.raises(NotFound):
        store.cancel(other)
    assert store.reap(other) is False
    with pytest.raises(NotFound):
        store.read(other, 0, 0)


@pytest.mark.timeout(30)
def test_a_stall_during_a_blocked_read_fails_it_after_one_socket_timeout(
    fresh_redis: RedisServer,
) -> None:
    """A reader blocked on a Redis that then stops hears of it after its wait plus
    redis_timeout_s, not after redis-py's retry doubled that: a stall shorter than the lease
    must stay shorter than the lease for the stream's readers too."""
    store = open_store(Config(redis_url=fresh_redis.url, redis_timeout_s=0.5))
    assert fresh_redis.proc is not None
    outcome: list[BaseException | list[object]] = []

    def read() -> None:
        try:
            outcome.append(store.read(sid, 2, 1.0))  # XREAD BLOCK 1000 on the blocking pool
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    try:
        sid = started(store, 2)
        reader = threading.Thread(target=read)
        start = time.monotonic()
        reader.start()
        time.sleep(0.3)  # the read is blocked in Redis by now
        fresh_redis.proc.send_signal(signal.SIGSTOP)
        try:
            reader.join(15)
            elapsed = time.monotonic() - start
        finally:
            fresh_redis.proc.send_signal(signal.SIGCONT)
        assert outcome and isinstance(outcome[0], StoreUnavailable), outcome
        assert elapsed < 3.0, elapsed  # 1 s of wait + 0.5 s of socket timeout (was 11 s)
        assert store.read(sid, 0, 0) == [Data(1, "r1"), Data(2, "r2")]  # nothing lost
    finally:
        store.close()


# -- owners, slots and the byte bound (issue 18) ---------------------------------------------
