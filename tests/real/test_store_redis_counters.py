"""Real tier of streamer.store.redis_counters: the per-client counters on a real redis-server
(tests/redis_fixture.py). The service's side, through gunicorn: test_fairness_live.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from streamer.config import Config
from streamer.errors import StoreUnavailable
from streamer.store import open_store
from streamer.store.redis_counters import ADMITTED, TOO_MANY_NEW, TOO_MANY_OPEN

from ..redis_cluster_fixture import RedisCluster, redis_cluster
from ..redis_fixture import RedisServer, fresh_redis

__all__ = ["fresh_redis", "redis_cluster"]

pytestmark = [pytest.mark.real, pytest.mark.timeout(30)]

A, B = "203.0.113.1", "2001:db8::/64"


def counters(server: RedisServer | RedisCluster, lease_s: float = 10.0) -> Any:
    store = open_store(Config(redis_url=server.url, lease_s=lease_s))
    found = store.client_counters()
    assert found is not None
    return found


def test_open_streams_are_counted_per_address_and_released(fresh_redis: RedisServer) -> None:
    c = counters(fresh_redis)
    assert [c.admit(A, f"m{i}", 2, 0)[0] for i in range(3)] == [
        ADMITTED,
        ADMITTED,
        TOO_MANY_OPEN,
    ]
    assert c.admit(B, "m0", 2, 0)[0] == ADMITTED  # an IPv6 /64 is an address like any other
    assert c.open_count(A) == 2
    c.release(A, "m0")
    assert c.open_count(A) == 1
    assert c.admit(A, "m3", 2, 0)[0] == ADMITTED
    # Two processes on one Redis share the count: a second store, a second client.
    other = counters(fresh_redis)
    assert other.admit(A, "x1", 2, 0)[0] == TOO_MANY_OPEN


def test_a_dead_holders_places_lapse_and_a_renewed_one_stays(fresh_redis: RedisServer) -> None:
    c = counters(fresh_redis, lease_s=1.0)  # members lapse 1 s after their last renewal
    assert c.admit(A, "dead", 2, 0)[0] == ADMITTED
    assert c.admit(A, "alive", 2, 0)[0] == ADMITTED
    assert c.admit(A, "third", 2, 0)[0] == TOO_MANY_OPEN
    for _ in range(4):  # 2 s: "dead" is never renewed (its worker died), "alive" is
        time.sleep(0.5)
        c.renew({A: ["alive"]})
    assert c.open_count(A) == 1
    assert c.admit(A, "third", 2, 0)[0] == ADMITTED
    # A renewal never brings back a member that was released meanwhile.
    c.release(A, "third")
    c.renew({A: ["third", "alive"]})
    assert c.open_count(A) == 1


def test_new_streams_per_second_is_an_incr_with_a_one_second_expiry(
    fresh_redis: RedisServer,
) -> None:
    c = counters(fresh_redis)
    got = [c.admit(A, f"r{i}", 0, 3) for i in range(4)]
    assert [code for code, _ in got] == [ADMITTED] * 3 + [TOO_MANY_NEW]
    assert 0 < got[-1][1] <= 1.0
    assert c.admit(B, "r0", 0, 3)[0] == ADMITTED
    time.sleep(got[-1][1] + 0.05)
    assert c.admit(A, "r5", 0, 3)[0] == ADMITTED
    # Both keys expire by themselves: nothing is left behind.
    time.sleep(1.1)
    keys = redis.Redis.from_url(fresh_redis.url).keys("streamer:client:*")
    assert keys == []


def test_a_redis_that_is_away_is_store_unavailable(fresh_redis: RedisServer) -> None:
    c = counters(fresh_redis)
    fresh_redis.stop()
    try:
        with pytest.raises(StoreUnavailable):
            c.admit(A, "m", 2, 2)
        with pytest.raises(StoreUnavailable):
            c.release(A, "m")
    finally:
        fresh_redis.start()


def test_on_a_redis_cluster_too(redis_cluster: RedisCluster) -> None:
    # Both keys of an address share its hash tag: one slot, so one script reaches both.
    c = counters(redis_cluster)
    for address in (A, B, "198.51.100.7"):
        got = [c.admit(address, f"m{i}", 2, 3)[0] for i in range(4)]
        assert got == [ADMITTED, ADMITTED, TOO_MANY_OPEN, TOO_MANY_NEW]
        c.renew({address: ["m0", "m1"]})
        c.release(address, "m0")
        assert c.open_count(address) == 1


def test_a_renewal_of_many_addresses_renews_each(fresh_redis: RedisServer) -> None:
    # The lease is long beside the 1,200 admissions (under a loaded CI machine they took
    # longer than a 1 s lease, so the first addresses lapsed before their first renewal).
    lease_s = 3.0
    c = counters(fresh_redis, lease_s=lease_s)
    addresses = [f"10.0.{i // 256}.{i % 256}" for i in range(600)]  # more than one batch of 500
    for address in addresses:
        assert c.admit(address, "a", 2, 0)[0] == ADMITTED
        assert c.admit(address, "b", 2, 0)[0] == ADMITTED
    held = {address: ["a", "b"] for address in addresses}
    c.renew(held)
    for _ in range(4):  # 4 s: past the lapse time, but renewed every second
        time.sleep(1.0)
        c.renew(held)
    assert {c.open_count(address) for address in addresses[::97]} == {2}
    time.sleep(lease_s + 0.1)  # no renewal: every one lapses
    assert {c.open_count(address) for address in addresses[::97]} == {0}
