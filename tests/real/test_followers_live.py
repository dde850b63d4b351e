"""Real tier of streamer.store.shared_reads (issue 27, row 5): many followers of a few
resumable streams on one gunicorn worker and one redis-server. The readers of a stream share
one blocking ``XREAD`` per worker: Redis sees a bounded number of connections and about one
read per record per stream, not one per reader, and every reader still gets every record once.
Before the shared reads, 120 followers held 120 blocking connections and made 120 reads per
record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from streamer.wire.records import End

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server
from .test_resumable_live import Reader

pytestmark = pytest.mark.real

__all__ = ["redis_server"]  # the fixture, imported for pytest

MakeServer = Callable[..., Server]
STREAMS = 3
READERS_PER_STREAM = 40
RECORDS = 12
POOL = 40  # STREAMER_REDIS_MAX_CONNECTIONS: blocking reads, and a quarter again for quick ones


@pytest.mark.timeout(120)
def test_followers_of_a_stream_share_one_blocking_read(
    make_server: MakeServer, redis_server: RedisServer
) -> None:
    # Pools smaller than the readers: 40 blocking connections (and 10 quick ones) for 120
    # followers. A reader holding a blocking read of its own would wait for a free connection
    # and fail; shared reads fit. The bound also keeps the catch-up burst of 120 readers
    # joining at once from growing the quick pool to one connection each on a loaded machine.
    server = make_server(
        {
            "REDIS_URL": redis_server.url,
            "STREAMER_HEARTBEAT_S": "5",
            "STREAMER_REDIS_MAX_CONNECTIONS": str(POOL),
        }
    )
    admin = redis.Redis.from_url(redis_server.url)
    urls = []
    for _ in range(STREAMS):
        first = Reader("ndjson")
        # Started and left after its first record: the producer runs on, detached, a
        # record every 0.5 s, while the readers below join (within a second) and follow.
        first.read(
            server.url(f"/stream/data?count={RECORDS}&interval=0.5&resumable=1"),
            stop=lambda record: True,
        )
        assert first.stream_id
        urls.append(server.url(f"/streams/{first.stream_id}"))
    admin.config_resetstat()
    readers = [Reader("ndjson") for _ in range(STREAMS * READERS_PER_STREAM)]
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda r=r, u=u: results.append(r.read(u, timeout=30)), daemon=True)
        for i, r in enumerate(readers)
        for u in [urls[i % STREAMS]]
    ]
    for t in threads:
        t.start()
    peak = blocked = 0
    while any(t.is_alive() for t in threads):
        clients = admin.info("clients")
        peak = max(peak, int(clients["connected_clients"]))
        blocked = max(blocked, int(clients["blocked_clients"]))
        time.sleep(0.05)
    for t in threads:
        t.join(1)

    assert results == [True] * len(readers)
    for reader in readers:
        assert [r.id for r in reader.data] == list(range(1, RECORDS + 1))
        assert isinstance(reader.terminal, End) and reader.terminal.count == RECORDS
    reads = int(admin.info("commandstats").get("cmdstat_xread", {}).get("calls", 0))
    # Per stream about one blocking read per record (plus the lease checks of idle waits),
    # and each reader's first catch-up read; one read per reader per record would be ~1,500.
    print(
        f"\n{len(readers)} followers: {reads} XREADs, peak {peak} Redis connections, "
        f"{blocked} blocked in a read at once"
    )
    assert reads < STREAMS * (RECORDS + 4) * 3 + len(readers) * 3, reads
    # One blocking read per stream (a few more while readers catch up at different records),
    # not one per reader; connections in all within the pools' bound (plus the stop listener
    # and this test's own), well below one per reader.
    assert blocked <= STREAMS * 3, blocked
    assert peak <= POOL + POOL // 4 + 4, peak
    assert peak < len(readers) // 2, peak
