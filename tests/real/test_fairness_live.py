"""Real tier of tests/unit/test_security_fairness.py: per-client limits through gunicorn's
gevent workers on loopback; across workers and instances on a real redis-server; behind the
nginx of deploy/ (tests/nginx_fixture.py), whose X-Forwarded-For names the client.

Each client here is a loopback address of its own (127.0.0.2, 127.0.0.3: all of 127/8 is
local on Linux), so nginx and gunicorn see them apart, as they would see two hosts."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from requests.adapters import HTTPAdapter

from ..conftest import Server
from ..nginx_fixture import Nginx
from ..redis_fixture import RedisServer, fresh_redis

__all__ = ["fresh_redis"]

pytestmark = pytest.mark.real

STREAM = "/stream/data?count=60&interval=0.5"  # 30 s: held open until the test closes it


class _From(HTTPAdapter):
    """Connections from ``source`` (a loopback address)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(source: str, cert: Path | None = None) -> requests.Session:
    """A client at ``source``; ``cert``: nginx's certificate (the test's own, self-signed)."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify; no proxy either
    adapter = _From(source)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if cert is not None:
        session.verify = str(cert)
    return session


def hold(session: requests.Session, url: str, n: int, **kw: Any) -> list[requests.Response]:
    return [session.get(url, stream=True, timeout=10, **kw) for _ in range(n)]


def close(responses: list[requests.Response]) -> None:
    for r in responses:
        r.close()


def assert_429(response: requests.Response, type_: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == type_


def refused_count(server_url: str, limit: str) -> float:
    text = requests.get(server_url + "/metrics", timeout=10).text
    for line in text.split("\n"):
        if line.startswith(f'streamer_requests_refused_total{{limit="{limit}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.timeout(60)
def test_one_client_cannot_take_every_stream_and_others_and_health_are_untouched(
    make_server: Callable[..., Server],
) -> None:
    # The measurement this answers: on defaults one client held 10,000 streams in 4 s.
    server = make_server({"STREAMER_MAX_STREAMS_PER_CLIENT": "5"})
    a, b = client_at("127.0.0.2"), client_at("127.0.0.3")
    held = hold(a, server.url(STREAM), 5)
    try:
        assert [r.status_code for r in held] == [200] * 5
        began = time.monotonic()
        over = a.get(server.url(STREAM), timeout=10)
        assert time.monotonic() - began < 1  # at once, never a hang
        assert_429(over, "too_many_streams_for_client")
        # No proxy is trusted: a header that names another client changes nothing.
        spoofed = a.get(server.url(STREAM), headers={"X-Forwarded-For": "198.51.100.1"}, timeout=10)
        assert_429(spoofed, "too_many_streams_for_client")
        chat = a.post(
            server.url("/chat"), json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10
        )
        assert_429(chat, "too_many_streams_for_client")
        assert a.get(server.url("/healthz"), timeout=10).status_code == 200
        other = b.get(server.url("/stream/data?count=2&interval=0"), timeout=10)
        assert other.status_code == 200 and other.text.count("data chunk") == 2
        assert refused_count(server.base_url, "too_many_streams_for_client") == 3.0
    finally:
        close(held)
    deadline = time.monotonic() + 5
    while a.get(server.url("/stream/data?count=1&interval=0"), timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the slots never came back"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_new_streams_per_second_per_client(make_server: Callable[..., Server]) -> None:
    server = make_server({"STREAMER_NEW_STREAMS_PER_CLIENT_S": "5"})
    a, b = client_at("127.0.0.2"), client_at("127.0.0.3")
    codes = [a.get(server.url("/stream/data?count=1&interval=0"), timeout=10) for _ in range(15)]
    refused = [r for r in codes if r.status_code == 429]
    # 15 in well under a second: 5 per window through, at most two windows.
    assert 5 <= len(refused) <= 10, [r.status_code for r in codes]
    assert_429(refused[0], "too_many_new_streams_for_client")
    assert b.get(server.url("/stream/data?count=1&interval=0"), timeout=10).status_code == 200
    time.sleep(1.05)
    assert a.get(server.url("/stream/data?count=1&interval=0"), timeout=10).status_code == 200


@pytest.mark.timeout(90)
def test_on_redis_the_limit_holds_across_workers_and_a_dead_workers_places_lapse(
    make_server: Callable[..., Server], fresh_redis: RedisServer
) -> None:
    env = {
        "REDIS_URL": fresh_redis.url,
        "STREAMER_MAX_STREAMS_PER_CLIENT": "6",
        "STREAMER_LEASE_S": "1",
    }
    server = make_server(env, workers=2)
    a = client_at("127.0.0.2")
    # Separate connections: the kernel spreads them over both workers.
    held = [
        client_at("127.0.0.2").get(server.url(STREAM), stream=True, timeout=10) for _ in range(6)
    ]
    try:
        assert [r.status_code for r in held] == [200] * 6
        assert_429(a.get(server.url(STREAM), timeout=10), "too_many_streams_for_client")
        # Kill every worker at once: nobody releases the six places; they lapse within a lease.
        workers = server.worker_pids()
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
    finally:
        close(held)
    began = time.monotonic()
    while True:
        try:
            got = a.get(server.url("/stream/data?count=1&interval=0"), timeout=10)
        except requests.ConnectionError:
            got = None  # gunicorn is still restarting its workers
        if got is not None and got.status_code == 200:
            break
        assert time.monotonic() - began < 10, "a dead worker's places never lapsed"
        time.sleep(0.1)
    # The new workers count from what Redis holds: six open again, and no seventh (once the
    # probe that got through has given its place back).
    db = redis.Redis.from_url(fresh_redis.url)
    deadline = time.monotonic() + 5
    while db.zcard("streamer:client:{127.0.0.2}:open"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    again = [
        client_at("127.0.0.2").get(server.url(STREAM), stream=True, timeout=10) for _ in range(6)
    ]
    try:
        assert [r.status_code for r in again] == [200] * 6
        assert_429(a.get(server.url(STREAM), timeout=10), "too_many_streams_for_client")
    finally:
        close(again)


@pytest.mark.timeout(60)
def test_while_redis_is_away_each_worker_counts_for_itself(
    make_server: Callable[..., Server], fresh_redis: RedisServer
) -> None:
    env = {"REDIS_URL": fresh_redis.url, "STREAMER_MAX_STREAMS_PER_CLIENT": "2"}
    server = make_server(env)
    a = client_at("127.0.0.2")
    fresh_redis.stop()
    try:
        held = [client_at("127.0.0.2").get(server.url(STREAM), stream=True, timeout=10)]
        held.append(client_at("127.0.0.2").get(server.url(STREAM), stream=True, timeout=10))
        try:
            assert [r.status_code for r in held] == [200, 200]  # plain streams need no store
            assert_429(a.get(server.url(STREAM), timeout=10), "too_many_streams_for_client")
        finally:
            close(held)
    finally:
        fresh_redis.start()
    log = server.log()
    assert "per-client limits: the store is unavailable; counting per worker" in log
    assert log.count("per-client limits: the store is unavailable") == 1  # once per interval
    # Back on Redis: counted there again.
    deadline = time.monotonic() + 10
    while a.get(server.url("/stream/data?count=1&interval=0"), timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.1)  # a worker asks the store again a second after it failed
    db = redis.Redis.from_url(fresh_redis.url)
    held = a.get(server.url(STREAM), stream=True, timeout=10)
    try:
        assert held.status_code == 200
        deadline = time.monotonic() + 5
        while db.zcard("streamer:client:{127.0.0.2}:open") != 1:  # the probe's place goes
            assert time.monotonic() < deadline, db.zcard("streamer:client:{127.0.0.2}:open")
            time.sleep(0.02)
    finally:
        held.close()


@pytest.mark.timeout(60)
def test_on_redis_producers_left_running_hold_their_clients_places(
    make_server: Callable[..., Server], fresh_redis: RedisServer
) -> None:
    env = {"REDIS_URL": fresh_redis.url, "STREAMER_MAX_STREAMS_PER_CLIENT": "3"}
    server = make_server(env, workers=2)
    a = client_at("127.0.0.2")
    long = "/stream/data?count=100&interval=0.2&resumable=1&format=ndjson"
    db = redis.Redis.from_url(fresh_redis.url)
    started = []
    for n in (1, 2):  # start and leave, on fresh connections: either worker
        r = client_at("127.0.0.2").get(server.url(long), stream=True, timeout=10)
        assert r.status_code == 200, r.text
        started.append(r.headers["X-Stream-Id"])
        r.close()
        # The server sees the reader go a moment later; then only the producers hold places.
        deadline = time.monotonic() + 5
        while db.zcard("streamer:client:{127.0.0.2}:open") != n:
            assert time.monotonic() < deadline, db.zcard("streamer:client:{127.0.0.2}:open")
            time.sleep(0.02)
    assert_429(a.get(server.url(long), timeout=10), "too_many_streams_for_client")
    for sid in started:
        assert a.delete(server.url(f"/streams/{sid}"), timeout=10).status_code == 202
    deadline = time.monotonic() + 10
    while db.zcard("streamer:client:{127.0.0.2}:open"):
        assert time.monotonic() < deadline, "cancelled producers kept their places"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_a_stalled_redis_delays_one_new_stream_a_second_not_each(
    make_server: Callable[..., Server], fresh_redis: RedisServer
) -> None:
    # The defaults: 64 open, 20 new a second; STREAMER_REDIS_TIMEOUT_S 2 s.
    env = {
        "REDIS_URL": fresh_redis.url,
        "STREAMER_MAX_STREAMS_PER_CLIENT": "64",
        "STREAMER_NEW_STREAMS_PER_CLIENT_S": "20",
    }
    server = make_server(env)
    a = client_at("127.0.0.2")
    a.get(server.url("/stream/data?count=1&interval=0"), timeout=10)
    assert fresh_redis.proc is not None
    os.kill(fresh_redis.proc.pid, signal.SIGSTOP)
    try:
        took = []
        for _ in range(5):
            began = time.monotonic()
            got = a.get(server.url("/stream/data?count=1&interval=0"), timeout=30)
            took.append(time.monotonic() - began)
            assert got.status_code == 200
    finally:
        os.kill(fresh_redis.proc.pid, signal.SIGCONT)
    assert took[0] > 1.5  # the first waits for the store's timeout...
    assert max(took[1:]) < 1.0, took  # ...the next, within the second, do not


class _Deployment:
    """Two instances (one worker each) on one Redis, the nginx of deploy/ in front, which
    they trust."""

    def __init__(self, folder: Path, redis: RedisServer, make: Callable[..., Server]) -> None:
        env = {
            "REDIS_URL": redis.url,
            "STREAMER_MAX_STREAMS_PER_CLIENT": "4",
            "STREAMER_TRUSTED_PROXIES": "127.0.0.1",
        }
        self.a, self.b = make(env), make(env)
        (folder / "nginx").mkdir()
        self.nginx = Nginx(
            folder / "nginx", [f"127.0.0.1:{self.a.port}", f"127.0.0.1:{self.b.port}"]
        )
        self.cert = folder / "nginx" / "cert.pem"

    def url(self, path: str) -> str:
        return self.nginx.https_url(path)


@pytest.fixture
def behind_nginx(
    tmp_path: Path, fresh_redis: RedisServer, make_server: Callable[..., Server]
) -> Iterator[_Deployment]:
    if os.environ.get("CI") is None and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    deployment = _Deployment(tmp_path, fresh_redis, make_server)
    yield deployment
    deployment.nginx.stop()


@pytest.mark.timeout(90)
def test_behind_nginx_each_client_is_limited_across_instances_and_cannot_spoof(
    behind_nginx: _Deployment,
) -> None:
    d = behind_nginx
    a, b = client_at("127.0.0.2", d.cert), client_at("127.0.0.3", d.cert)
    # Every request reaches an instance from nginx (127.0.0.1); X-Forwarded-For names the
    # client. Separate connections, so nginx spreads them over both instances.
    held = [
        client_at("127.0.0.2", d.cert).get(d.url(STREAM), stream=True, timeout=10) for _ in range(4)
    ]
    try:
        assert [r.status_code for r in held] == [200] * 4
        over = a.get(d.url(STREAM), timeout=10)
        assert_429(over, "too_many_streams_for_client")
        # What the client writes itself is left of nginx's own entry, and is not believed.
        spoofed = a.get(d.url(STREAM), headers={"X-Forwarded-For": "127.0.0.3"}, timeout=10)
        assert_429(spoofed, "too_many_streams_for_client")
        # Another client through the same nginx has its own budget.
        other = b.get(d.url("/stream/data?count=2&interval=0"), timeout=10)
        assert other.status_code == 200, other.text
        # Both instances refused, or both served: the count is the same on each.
        for _ in range(4):
            assert_429(a.get(d.url(STREAM), timeout=10), "too_many_streams_for_client")
        refusals = refused_count(d.a.base_url, "too_many_streams_for_client") + refused_count(
            d.b.base_url, "too_many_streams_for_client"
        )
        assert refusals == 6.0
        assert refused_count(d.a.base_url, "too_many_streams_for_client") > 0
        assert refused_count(d.b.base_url, "too_many_streams_for_client") > 0
    finally:
        close(held)
    deadline = time.monotonic() + 5
    while a.get(d.url("/stream/data?count=1&interval=0"), timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the places never came back"
        time.sleep(0.05)
