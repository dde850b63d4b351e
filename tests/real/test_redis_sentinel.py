"""The stream store on Redis Sentinel (tests/redis_sentinel_fixture.py): what only Sentinel
and replicas have. tests/real/test_store_redis.py runs the whole store contract on it
(``redis-sentinel``); tests/real/test_redis_failover.py fails it over under the service.
"""

from __future__ import annotations

import inspect
import time

import pytest

from streamer.config import Config
from streamer.errors import ConfigError, StoreUnavailable
from streamer.store import new_stream_id, open_store
from streamer.wire.records import Data, End

from ..ports import free_port
from ..redis_sentinel_fixture import SERVICE, RedisSentinel, redis_sentinel

__all__ = ["redis_sentinel"]  # a fixture, imported for pytest


@pytest.mark.timeout(30)
def test_unreachable_sentinels_are_a_prompt_store_unavailable_and_nothing_connects_early() -> None:
    ports = [free_port() for _ in range(3)]
    url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in ports) + "/m"
    store = open_store(Config(redis_url=url, redis_timeout_s=0.5))  # nothing connects here
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.create(new_stream_id())
        assert time.monotonic() - start < 5
    finally:
        store.close()


@pytest.mark.timeout(30)
def test_a_master_name_the_sentinels_do_not_monitor_is_a_store_unavailable(
    redis_sentinel: RedisSentinel,
) -> None:
    url = redis_sentinel.url.replace(f"/{SERVICE}/", "/not-monitored/")
    store = open_store(Config(redis_url=url, redis_timeout_s=0.5))
    try:
        with pytest.raises(StoreUnavailable):
            store.ping()
    finally:
        store.close()


@pytest.mark.timeout(30)
def test_with_wait_a_record_counts_once_the_replicas_have_it(
    redis_sentinel: RedisSentinel,
) -> None:
    """Two replicas: WAIT 2 is met; WAIT 3 never is, so the producer's append is retried for
    a lease and then fails (the producer stops; readers would see producer_lost)."""
    met = open_store(Config(redis_url=redis_sentinel.url, redis_wait_replicas=2))
    unmet = open_store(
        Config(
            redis_url=redis_sentinel.url, redis_wait_replicas=3, lease_s=1.0, redis_timeout_s=0.4
        )
    )
    plain = open_store(Config(redis_url=redis_sentinel.url))
    try:
        sid = new_stream_id()
        met.create(sid)
        assert met.append(sid, Data(1, "a")) and met.append(sid, End(1))
        assert met.read(sid, 0, 0) == [Data(1, "a"), End(1)]
        # What it costs: a round trip to the replicas per record (printed with -s).
        per_record = {}
        for name, store in (("no WAIT", plain), ("WAIT 2", met)):
            timed = new_stream_id()
            store.create(timed)
            start = time.perf_counter()
            for i in range(1, 501):
                assert store.append(timed, Data(i, "x" * 100))
            per_record[name] = (time.perf_counter() - start) / 500 * 1e6
        print("append, µs per record:", {k: round(v) for k, v in per_record.items()})
        other = new_stream_id()
        unmet.create(other)
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match="replicas"):
            unmet.append(other, Data(1, "b"))
        assert 0.8 < time.monotonic() - start < 4  # a lease of retries, each WAIT 0.2 s
    finally:
        plain.close()
        met.close()
        unmet.close()


def test_wait_is_refused_on_a_cluster() -> None:
    url = "redis+cluster://127.0.0.1:7000"
    with pytest.raises(ConfigError, match="STREAMER_REDIS_WAIT_REPLICAS"):
        open_store(Config(redis_url=url, redis_wait_replicas=1))
    open_store(Config(redis_url=url)).close()  # without it, fine (and nothing connects)


def test_redis_py_still_keeps_a_sentinel_connection_whose_read_failed() -> None:
    """Why streamer.store.redis_sentinel.SentinelConnection exists: redis-py's Sentinel
    connection does not close itself when a read fails (its default differs from
    Connection's). When this fails, redis-py changed: the subclass may go."""
    from redis.connection import Connection
    from redis.sentinel import SentinelManagedConnection

    from streamer.store.redis_sentinel import SentinelConnection

    def default(cls: type) -> object:
        return inspect.signature(cls.read_response).parameters["disconnect_on_error"].default

    assert default(Connection) is True
    assert default(SentinelManagedConnection) is False
    assert default(SentinelConnection) is True


@pytest.mark.timeout(60)
def test_durable_streams_run_on_sentinel_too(
    redis_sentinel: RedisSentinel, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The Durable Streams store makes its own clients from the same URL: on Sentinel it
    # must ask the Sentinels for the primary as the stream store does (it refused the
    # redis+sentinel:// scheme, and the service did not boot).
    import requests

    from ..conftest import Server

    srv = Server({"REDIS_URL": redis_sentinel.url}, tmp_path_factory.mktemp("ds") / "g.log")
    try:
        url = srv.url(f"/v1/stream/on-sentinel-{time.monotonic_ns()}")
        assert requests.put(url, headers={"Content-Type": "text/plain"}, timeout=10).ok
        for i in range(3):
            sent = requests.post(url, data=f"{i};", headers={"Content-Type": "text/plain"})
            assert sent.status_code in (200, 204), sent.text
        assert requests.get(url, params={"offset": "-1"}, timeout=10).text == "0;1;2;"
    finally:
        srv.stop()
