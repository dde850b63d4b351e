"""The stream store on a real 3-master Redis Cluster (tests/redis_cluster_fixture.py).

tests/real/test_store_redis.py runs the whole store contract on the cluster too (``redis-cluster``);
here: what only a cluster has (slots, several nodes, the URL form) and the service on it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
import requests
from redis.cluster import RedisCluster as PyRedisCluster

from streamer.config import Config
from streamer.errors import ConfigError, StoreUnavailable
from streamer.store import STORE_LOST, new_stream_id, open_store
from streamer.store.redis_cluster import split_cluster_url
from streamer.wire.records import Data, End

from ..conftest import Server
from ..ports import free_port
from ..redis_cluster_fixture import RedisCluster, redis_cluster, redis_cluster_with_replicas

__all__ = ["redis_cluster", "redis_cluster_with_replicas"]  # fixtures, imported for pytest


def test_the_cluster_url_form() -> None:
    assert split_cluster_url("redis+cluster://127.0.0.1:7000") == ("redis://127.0.0.1:7000", [])
    assert split_cluster_url("rediss+cluster://u:p@a:1,b:2,c:3/0?ssl_cert_reqs=none") == (
        "rediss://u:p@a:1/0?ssl_cert_reqs=none",
        [("b", 2), ("c", 3)],
    )
    with pytest.raises(ValueError, match="host:port"):
        split_cluster_url("redis+cluster://a:1,b")
    assert Config.from_env({"REDIS_URL": "redis+cluster://a:1,b:2"}).redis_url
    with pytest.raises(ConfigError, match="redis\\+cluster://"):
        Config.from_env({"REDIS_URL": "cluster://a:1"})


@pytest.mark.timeout(30)
def test_each_streams_keys_share_a_slot_and_streams_spread_over_the_masters(
    redis_cluster: RedisCluster,
) -> None:
    store = open_store(Config(redis_url=redis_cluster.url))
    first, _ = split_cluster_url(redis_cluster.url)
    client = PyRedisCluster.from_url(first)
    try:
        owners = set()
        for _ in range(30):
            sid = new_stream_id()
            store.create(sid)
            assert store.append(sid, Data(1, "x")) and store.append(sid, End(1))
            keys = [f"streamer:{{{sid}}}:{k}" for k in ("meta", "log", "lease", "cancel")]
            assert all(client.exists(k) for k in keys[:2])  # a finished stream's
            slots = {client.keyslot(k) for k in keys}
            assert len(slots) == 1  # one slot: the scripts and blocking reads are legal
            owners.add(client.get_node_from_key(keys[0]).name)
            assert store.read(sid, 0, 0) == [Data(1, "x"), End(1)]
        assert len(owners) == 3, owners  # and the cluster really shares the load
    finally:
        client.close()
        store.close()


@pytest.mark.timeout(30)
def test_an_unreachable_cluster_is_a_prompt_store_unavailable_and_nothing_connects_early() -> None:
    port = free_port()  # nobody listens on it
    store = open_store(
        Config(redis_url=f"redis+cluster://127.0.0.1:{port}", redis_timeout_s=0.5)
    )  # no error here: nothing connected yet
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.create(new_stream_id())
        assert time.monotonic() - start < 10
    finally:
        store.close()


@pytest.mark.real
@pytest.mark.timeout(60)
def test_two_instances_on_the_cluster_resume_each_others_streams(
    make_server: Callable[..., Server], redis_cluster: RedisCluster
) -> None:
    env = {"REDIS_URL": redis_cluster.url, "STREAMER_HEARTBEAT_S": "0.5"}
    a, b = make_server(env), make_server(env)
    assert requests.get(b.url("/readyz"), timeout=5).json() == {"status": "ready", "store": "redis"}
    for _ in range(6):
        start = requests.get(
            a.url("/stream/data?count=20&interval=0.02&resumable=1&format=ndjson"),
            stream=True,
            timeout=10,
        )
        sid = start.headers["X-Stream-Id"]
        first = next(start.iter_content(chunk_size=None))
        start.close()  # dropped after record 1: resume on the other instance
        assert b'"id":1' in first
        rest = requests.get(
            b.url(f"/streams/{sid}?format=ndjson"), headers={"Last-Event-ID": "1"}, timeout=10
        )
        ids = [line for line in rest.text.split("\n") if line]
        assert len(ids) == 20 and ids[0].startswith('{"event":"data","id":2,')
        assert ids[-1] == '{"event":"end","count":20}'


@pytest.mark.timeout(60)
def test_a_cluster_failover_under_a_running_stream_costs_time_not_records(
    redis_cluster_with_replicas: RedisCluster,
) -> None:
    """The master holding a running stream's slot is SIGKILLed; its replica takes over
    (``cluster-node-timeout`` 2 s). The producer's writes are retried until then, a reader
    meets ``StoreUnavailable`` and resumes, and the stream ends with every record once (or
    ``store_lost``, had the replica lacked acknowledged ones)."""
    cluster = redis_cluster_with_replicas
    store = open_store(Config(redis_url=cluster.url, lease_s=10, redis_timeout_s=0.5))
    first, _ = split_cluster_url(cluster.url)
    client = PyRedisCluster.from_url(first)
    count = 60
    seen: list[object] = []
    failures: list[float] = []
    appended_at: list[float] = []
    try:
        sid = new_stream_id()
        store.create(sid)
        for i in range(1, 6):
            assert store.append(sid, Data(i, f"r{i}"))
        owner = client.get_node_from_key(f"streamer:{{{sid}}}:meta")
        assert owner.server_type == "primary"
        client.close()

        refused: list[int] = []

        def produce() -> None:
            # An append is refused (False) once the store has found records lost in the
            # failover and marked the stream store_lost: the producer stops there.
            for i in range(6, count + 1):
                if not store.append(sid, Data(i, f"r{i}")):
                    refused.append(i)
                    return
                appended_at.append(time.monotonic())
                time.sleep(0.05)
            if not store.append(sid, End(count)):
                refused.append(count + 1)

        def follow() -> None:
            last = 0
            while not seen or isinstance(seen[-1], Data):
                try:
                    records = store.read(sid, last, 1.0)
                except StoreUnavailable:
                    failures.append(time.monotonic())
                    time.sleep(0.1)
                    continue
                seen.extend(records)
                last = max([last] + [r.id for r in records if isinstance(r, Data)])

        producer = threading.Thread(target=produce)
        reader = threading.Thread(target=follow)
        producer.start()
        reader.start()
        time.sleep(0.5)
        killed_at = time.monotonic()
        cluster.kill(owner.port)
        producer.join(40)
        reader.join(10)
        assert not producer.is_alive() and not reader.is_alive()
        assert failures, "the reader never met the failover"
        if seen[-1] != End(count):
            assert seen[-1] == STORE_LOST, seen[-3:]
            data = [r for r in seen if isinstance(r, Data)]
            assert data == [Data(i, f"r{i}") for i in range(1, len(data) + 1)]  # a prefix, once
        else:
            assert not refused
            assert seen == [*(Data(i, f"r{i}") for i in range(1, count + 1)), End(count)]
        gap = max(b - a for a, b in itertools.pairwise(appended_at))
        print(
            f"cluster failover: longest wait between two appends {gap:.2f} s; the reader "
            f"met StoreUnavailable for {failures[-1] - killed_at:.2f} s after the kill; "
            f"the stream ended with {type(seen[-1]).__name__}"
        )
        assert gap < 10
        store.ping()
    finally:
        store.close()


@pytest.mark.timeout(60)
def test_with_the_first_node_of_the_url_dead_a_cancel_still_wakes_its_producer_at_once(
    redis_cluster_with_replicas: RedisCluster,
) -> None:
    """The listener that wakes producers on a cancel subscribes on one node; when that node
    dies it moves on to the next of the URL (PUBLISH reaches every node), instead of
    retrying the dead one while cancels wait for the producer's next renewal."""
    cluster = redis_cluster_with_replicas
    producer = open_store(Config(redis_url=cluster.url, lease_s=30, redis_timeout_s=0.5))
    other = open_store(Config(redis_url=cluster.url, redis_timeout_s=0.5))
    try:
        sid = new_stream_id()
        producer.create(sid)  # starts its listener, on the URL's first node
        assert producer.append(sid, Data(1, "a"))
        masters = len(cluster.masters())
        cluster.kill(cluster.ports[0])
        deadline = time.monotonic() + 30
        while len(cluster.masters()) < masters:  # until its replica has taken over
            assert time.monotonic() < deadline, "the cluster did not fail over"
            time.sleep(0.2)
        while True:  # and both clients know (the cluster failover itself: the test above)
            try:
                assert producer.append(sid, Data(2, "b"))
                assert producer.keep_alive(sid, 0.01)
                other.read(sid, 0, 0)
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not come back"
                time.sleep(0.2)
        outcome: list[tuple[bool, float]] = []
        waiter = threading.Thread(
            target=lambda: outcome.append((producer.keep_alive(sid, 10.0), time.monotonic()))
        )
        waiter.start()
        time.sleep(1.0)  # renewed, and waiting for a stop
        cancelled_at = time.monotonic()
        assert other.cancel(sid)
        waiter.join(15)
        (alive, woke_at) = outcome[0]
        assert alive is False
        assert woke_at - cancelled_at < 2.0, woke_at - cancelled_at  # not the 10 s wait
    finally:
        producer.close()
        other.close()
