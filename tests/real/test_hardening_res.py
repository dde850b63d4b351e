"""Issue 18, rows 2-6 (resumable streams as a resource, Redis hiccups, stream ownership) and
issue 16's "a stream's outcome is always in-band": each row as an attack over real sockets
against gunicorn with a gevent worker, and a real ``redis-server`` (stalled with
SIGSTOP/SIGCONT). The counts are the issue's scaled down (hundreds, not thousands), with the
mechanism kept: a small byte bound, a small per-key limit, a small Redis pool.
bench/attack_res.py runs the same attacks at larger counts and prints the figures.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
import requests

from streamer.service.settings import ServiceConfig
from streamer.store import new_stream_id, open_store
from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End, Error, Ping, Record

from ..conftest import Server
from ..redis_fixture import RedisServer, fresh_redis, redis_server
from ..unit.test_server_resumable import chunks, wait_for
from .test_resumable_live import Reader, read_all

__all__ = ["fresh_redis", "redis_server"]  # fixtures, imported for pytest

MakeServer = Callable[..., Server]
KA, KB = "ka-key-0001", "kb-key-0002"
KEYS = f"{KA},{KB}"
CHAT = {"messages": [{"role": "user", "content": "tell me a long story"}], "resumable": True}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def start(
    url: str, headers: dict[str, str] | None = None, json_body: Any = None
) -> requests.Response:
    """Start a stream and drop the connection after its headers and first bytes (what an
    attacker does); the response keeps its status, headers and what was read."""
    method = requests.post if json_body is not None else requests.get
    response = method(url, headers=headers, json=json_body, stream=True, timeout=20)
    try:
        if response.status_code == 200:
            next(response.iter_content(chunk_size=None), b"")
        else:
            response.content  # noqa: B018 (read the JSON body)
    finally:
        response.close()
    return response


def records(body: bytes, fmt: str) -> list[Record]:
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [r for r in [*decoder.feed(body), *decoder.close()] if not isinstance(r, Ping)]


# -- row 2: memory bounded in bytes; a key needed to start one ----------------------------------


@pytest.mark.real
@pytest.mark.timeout(120)
def test_row2_resumable_streams_do_not_grow_memory_past_the_byte_bound(
    make_server: MakeServer,
) -> None:
    """120 x count=9999&interval=0&resumable=1 with no key would keep ~200 MB; a 16 MiB bound
    keeps the worker's growth near it, and a refusal is a 503 JSON before memory grows."""
    server = make_server(
        {"STREAMER_RESUMABLE_MAX_BYTES": str(16 << 20), "STREAMER_MAX_STREAM_S": "60"}
    )
    (pid,) = server.worker_pids()
    before = rss_mib(pid)
    statuses: Counter[int] = Counter()
    for _ in range(120):
        r = start(server.url("/stream/data?count=9999&interval=0&resumable=1&format=ndjson"))
        statuses[r.status_code] += 1
        if r.status_code != 200:
            assert r.status_code == 503, r.text
            assert r.json()["error"]["type"] == "store_full"
            assert int(r.headers["Retry-After"]) >= 1
    # Let every producer run to its end (or to the bound).
    time.sleep(3)
    grown = rss_mib(pid) - before
    assert grown < 64, (f"worker RSS grew {grown:.0f} MiB with a 16 MiB bound", statuses)
    assert statuses[200] > 0
    # The service still serves, resumable streams included.
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    again = Reader("ndjson")
    assert again.read(server.url("/stream/data?count=3&interval=0&resumable=1"))
    assert again.records == [*chunks(3), End(3)]


@pytest.mark.real
@pytest.mark.timeout(60)
def test_row2_with_keys_a_resumable_stream_needs_a_key_even_on_the_demo_endpoint(
    make_server: MakeServer,
) -> None:
    server = make_server({"STREAMER_API_KEYS": KEYS})
    url = server.url("/stream/data?count=2&interval=0&resumable=1")
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["type"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(url, headers=bearer("not-a-key"), timeout=10).status_code == 401
    keyed = requests.get(url + "&format=ndjson", headers=bearer(KA), timeout=10)
    assert keyed.status_code == 200 and keyed.headers["X-Stream-Id"]
    assert records(keyed.content, "ndjson") == [*chunks(2), End(2)]
    # The plain demo stream stays open to anyone.
    plain = requests.get(server.url("/stream/data?count=2&interval=0"), timeout=10)
    assert plain.status_code == 200 and plain.text == "data chunk 1\ndata chunk 2\n"


# -- row 3: running producers hold slots ----------------------------------------------------


@pytest.mark.real
@pytest.mark.timeout(90)
def test_row3_detached_producers_count_toward_the_key_and_worker_limits(
    make_server: MakeServer,
) -> None:
    server = make_server(
        {
            "STREAMER_API_KEYS": KEYS,
            "STREAMER_MAX_STREAMS_PER_KEY": "5",
            "STREAMER_MAX_STREAMS": "8",
        }
    )
    slow = "/stream/data?count=100000&interval=60&resumable=1"
    statuses: Counter[int] = Counter()
    for _ in range(15):
        r = start(server.url(slow), headers=bearer(KA))
        statuses[r.status_code] += 1
        if r.status_code != 200:
            assert r.status_code == 429, r.text
            assert r.json()["error"]["type"] == "too_many_streams_for_key"
            assert int(r.headers["Retry-After"]) >= 1
        time.sleep(0.05)  # let the server see the reader leave (its body slot frees)
    # One key cannot hold more than its limit of running producers.
    assert 1 <= statuses[200] <= 5 and statuses[429] >= 10, statuses
    # Another key is not starved by it.
    url = server.url("/stream/data?count=3&interval=0&resumable=1&format=ndjson")
    keyed = requests.get(url, headers=bearer(KB), timeout=10)
    assert keyed.status_code == 200 and records(keyed.content, "ndjson") == [*chunks(3), End(3)]
    # The worker limit (8) counts them too: kb fills what is left, then it says 503.
    worker: Counter[int] = Counter()
    for _ in range(12):
        r = start(server.url(slow), headers=bearer(KB))
        worker[r.status_code] += 1
        time.sleep(0.05)
    assert worker[503] >= 1, worker
    refused = requests.get(server.url(slow), headers=bearer(KB), timeout=10)
    assert refused.status_code in (429, 503)
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.real
@pytest.mark.timeout(60)
def test_row3_without_keys_detached_producers_count_toward_the_worker_limit(
    make_server: MakeServer,
) -> None:
    server = make_server({"STREAMER_MAX_STREAMS": "10"})
    statuses: Counter[int] = Counter()
    for _ in range(20):
        r = start(server.url("/stream/data?count=100000&interval=60&resumable=1"))
        statuses[r.status_code] += 1
        if r.status_code != 200:
            assert r.status_code == 503 and r.json()["error"]["type"] == "too_many_streams"
            assert int(r.headers["Retry-After"]) >= 1
        time.sleep(0.05)
    assert statuses[200] <= 9 and statuses[503] >= 11, statuses


@pytest.mark.real
@pytest.mark.timeout(90)
def test_row3_the_key_limit_holds_across_workers_on_redis_and_a_dead_workers_slots_lapse(
    make_server: MakeServer, redis_server: RedisServer
) -> None:
    server = make_server(
        {
            "REDIS_URL": redis_server.url,
            "STREAMER_API_KEYS": KEYS,
            "STREAMER_MAX_STREAMS_PER_KEY": "3",
            "STREAMER_LEASE_S": "1.5",
        },
        workers=2,
    )
    slow = "/stream/data?count=100000&interval=60&resumable=1"
    statuses: Counter[int] = Counter()
    for _ in range(12):
        r = start(server.url(slow), headers=bearer(KA))
        statuses[r.status_code] += 1
        time.sleep(0.05)
    assert 1 <= statuses[200] <= 3 and statuses[429] >= 9, statuses
    # SIGKILL both workers: their producers die without a word; their slots lapse with the
    # lease and the key can start streams again on the replacements.
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    def started_again() -> bool:
        try:
            return start(server.url(slow), headers=bearer(KA)).status_code == 200
        except requests.RequestException:
            return False

    wait_for(started_again, 20, "a start by the key after its workers died")
    assert time.monotonic() - killed < 20


# -- row 4: producers do not hold Redis connections; readiness sees an exhausted pool ------------


@pytest.mark.real
@pytest.mark.timeout(120)
def test_row4_running_producers_do_not_exhaust_the_redis_pool(
    make_server: MakeServer, redis_server: RedisServer
) -> None:
    """A pool of 8 blocking connections, 30 running producers: before, each producer held one
    (``BLPOP`` between renewals) and a new stream's reader got ``store_unavailable``."""
    server = make_server(
        {
            "REDIS_URL": redis_server.url,
            "STREAMER_REDIS_MAX_CONNECTIONS": "8",
            "STREAMER_LEASE_S": "3",
        }
    )
    began = time.monotonic()
    statuses = Counter(
        start(server.url("/stream/data?count=1000&interval=30&resumable=1")).status_code
        for _ in range(30)
    )
    assert statuses == {200: 30}, statuses
    assert time.monotonic() - began < 30
    time.sleep(2)  # a lease renewal round for every producer
    for _ in range(3):
        reader = Reader("ndjson")
        assert reader.read(server.url("/stream/data?count=5&interval=0.2&resumable=1"))
        assert reader.records == [*chunks(5), End(5)]
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    assert "lease" not in server.log()


@pytest.mark.real
@pytest.mark.timeout(90)
def test_row4_readiness_reports_an_exhausted_pool_and_readers_still_get_their_records(
    make_server: MakeServer, redis_server: RedisServer
) -> None:
    server = make_server(
        {
            "REDIS_URL": redis_server.url,
            "STREAMER_REDIS_MAX_CONNECTIONS": "4",
            "STREAMER_LEASE_S": "3",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    # Six idle streams: the readers of one stream share a single blocking read
    # (streamer.store.shared_reads), so each stream's reader holds a connection of its own.
    sids = [
        start(server.url("/stream/data?count=2&interval=40&resumable=1")).headers["X-Stream-Id"]
        for _ in range(6)
    ]
    stop = threading.Event()

    def hold(sid: str) -> None:  # a reader waiting for live records holds a blocking read
        try:
            with requests.get(
                server.url(f"/streams/{sid}?format=ndjson"), stream=True, timeout=30
            ) as r:
                for _ in r.iter_content(chunk_size=None):  # pings every 0.5 s
                    if stop.is_set():
                        return
        except requests.RequestException:
            pass  # closed by the test's cleanup

    threads = [threading.Thread(target=hold, args=(sid,), daemon=True) for sid in sids]
    for t in threads:
        t.start()
    try:

        def not_ready() -> bool:
            r = requests.get(server.url("/readyz"), timeout=10)
            return r.status_code == 503 and "in use" in r.json()["error"]["message"]

        wait_for(not_ready, 10, "/readyz to report the exhausted pool")
        # A reader beyond the pool still gets its records (it polls instead of failing).
        reader = Reader("ndjson")
        assert reader.read(server.url("/stream/data?count=4&interval=0.2&resumable=1"))
        assert reader.records == [*chunks(4), End(4)]
    finally:
        stop.set()  # and the cancels below end every held reader with its error record
        for sid in sids:
            requests.delete(server.url(f"/streams/{sid}"), timeout=10)
        for t in threads:
            t.join(10)
    wait_for(
        lambda: requests.get(server.url("/readyz"), timeout=10).status_code == 200,
        15,
        "/readyz to recover",
    )


# -- row 5: a short Redis stall costs time, not the stream --------------------------------------


@pytest.mark.real
@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_row5_a_redis_stall_shorter_than_the_lease_loses_nothing(
    make_server: MakeServer, fresh_redis: RedisServer, fmt: str
) -> None:
    server = make_server(
        {
            "REDIS_URL": fresh_redis.url,
            "STREAMER_LEASE_S": "8",
            "STREAMER_REDIS_TIMEOUT_S": "0.5",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    assert fresh_redis.proc is not None
    reader = Reader(fmt)
    stopped_at: list[float] = []

    def stall_at_5(record: Record) -> bool:
        if isinstance(record, Data) and record.id == 5 and not stopped_at:
            assert fresh_redis.proc is not None
            fresh_redis.proc.send_signal(signal.SIGSTOP)
            stopped_at.append(time.monotonic())
        return False

    try:
        finished = reader.read(
            server.url("/stream/data?count=40&interval=0.1&resumable=1"), stop=stall_at_5
        )
        assert stopped_at, "the stream ended before the stall"
        # Within a blocking read's socket timeout (redis_timeout_s + 1 s), not after retries:
        # a reader that took longer would stretch this stall past the lease.
        met_after_s = time.monotonic() - stopped_at[0]
        assert met_after_s < 4.0, f"the reader met the stall {met_after_s:.1f} s after it began"
        # The reader met the stall: an in-band store_unavailable (not stored), or a cut.
        if finished:
            assert reader.terminal == Error("store_unavailable", reader.terminal.message)  # type: ignore[union-attr]
            reader.records.pop()
        time.sleep(max(0.0, stopped_at[0] + 3.0 - time.monotonic()))
    finally:
        fresh_redis.proc.send_signal(signal.SIGCONT)
    # Resume until the end: every answer a 200, every record once, the stream's real end.
    deadline = time.monotonic() + 30
    while not isinstance(reader.terminal, End):
        assert time.monotonic() < deadline, reader.records[-3:]
        if isinstance(reader.terminal, Error):
            assert reader.terminal.type == "store_unavailable", reader.terminal
            reader.records.pop()
        reader.read(server.url(f"/streams/{reader.stream_id}"))
    assert reader.records == [*chunks(40), End(40)]


@pytest.mark.real
@pytest.mark.timeout(90)
def test_row5_a_stall_longer_than_the_lease_is_never_stored_as_the_streams_end(
    make_server: MakeServer, fresh_redis: RedisServer
) -> None:
    """The producer gives up after a lease of retries and writes nothing: once Redis is back,
    readers see ``producer_lost`` (what happened), never a stored ``store_unavailable``."""
    server = make_server(
        {
            "REDIS_URL": fresh_redis.url,
            "STREAMER_LEASE_S": "1.5",
            "STREAMER_REDIS_TIMEOUT_S": "0.3",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    assert fresh_redis.proc is not None
    reader = Reader("ndjson")
    assert not reader.read(
        server.url("/stream/data?count=200&interval=0.05&resumable=1"),
        stop=lambda r: isinstance(r, Data) and r.id == 5,
    )
    fresh_redis.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(4)
    finally:
        fresh_redis.proc.send_signal(signal.SIGCONT)
    lost = Error("producer_lost", "the stream's producer stopped responding")
    for _ in range(2):
        again = Reader("ndjson")
        again.last_id = reader.last_id
        again.stream_id = reader.stream_id
        assert again.read(server.url(f"/streams/{reader.stream_id}"))
        assert again.terminal == lost, again.records[-3:]
        n = again.data[-1].id if again.data else reader.last_id
        assert [*reader.data, *again.data] == chunks(n)


# -- row 6: a stream belongs to the key that started it -------------------------------------


@pytest.mark.real
@pytest.mark.timeout(90)
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_row6_another_key_cannot_read_or_cancel_a_stream(
    make_server: MakeServer, backend: str, request: pytest.FixtureRequest
) -> None:
    env = {"STREAMER_API_KEYS": KEYS, "STREAMER_ECHO_DELAY_S": "0.2"}
    if backend == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    server = make_server(env)
    started = start(server.url("/chat"), headers=bearer(KA), json_body=CHAT)
    assert started.status_code == 200, started.text
    sid = started.headers["X-Stream-Id"]
    unknown = new_stream_id()
    for method in ("get", "delete"):
        theirs = getattr(requests, method)(
            server.url(f"/streams/{sid}"), headers=bearer(KB), timeout=10
        )
        nobody = getattr(requests, method)(
            server.url(f"/streams/{unknown}"), headers=bearer(KB), timeout=10
        )
        assert theirs.status_code == nobody.status_code == 404, (method, theirs.text)
        assert theirs.content == nobody.content
        assert theirs.headers["Content-Type"] == nobody.headers["Content-Type"]
    # Its owner reads and cancels it.
    mine = requests.get(
        server.url(f"/streams/{sid}?format=ndjson"), headers=bearer(KA), stream=True, timeout=10
    )
    assert mine.status_code == 200
    mine.close()
    assert (
        requests.delete(server.url(f"/streams/{sid}"), headers=bearer(KA), timeout=10).status_code
        == 202
    )
    if backend == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_server").url)
        meta = client.hgetall(f"streamer:{{{sid}}}:meta")
        client.close()
        assert meta[b"owner"] == b"key1"
        assert not any(KA.encode() in v for v in meta.values())
    assert KA not in server.log() and KB not in server.log()


# -- issue 16: a resume right before the terminal record gets it in-band --------------------


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_a_resume_whose_next_record_is_producer_lost_gets_it_in_band(
    make_server: MakeServer, redis_server: RedisServer, fmt: str
) -> None:
    """The stream's producer dies after 3 records (here: it is written from this process and
    then never renewed). A resume from id 3 gets 200 and the ``error`` record, not a 500."""
    server = make_server({"REDIS_URL": redis_server.url, "STREAMER_LEASE_S": "0.5"})
    store = open_store(ServiceConfig(redis_url=redis_server.url, lease_s=0.5))
    try:
        sid = new_stream_id()
        store.create(sid)
        for i in range(1, 4):
            store.append(sid, Data(i, f"data chunk {i}\n"))
    finally:
        store.close()
    lost = Error("producer_lost", "the stream's producer stopped responding")
    for _ in range(2):  # the first resume reaps; the second finds the stored terminal record
        with requests.get(
            server.url(f"/streams/{sid}?format={fmt}"),
            stream=True,
            headers={"Last-Event-ID": "3"},
            timeout=10,
        ) as resumed:
            assert resumed.status_code == 200, resumed.text
            assert records(read_all(resumed), fmt) == [lost]
    with requests.get(server.url(f"/streams/{sid}?format={fmt}"), stream=True, timeout=10) as whole:
        assert whole.status_code == 200
        assert records(read_all(whole), fmt) == [*chunks(3), lost]
