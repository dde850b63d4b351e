"""Real tier of streamer.server.durable with the protocol's own TypeScript client
(``@durable-streams/client``, pinned in tests/node/package-lock.json) across two service
instances (gunicorn, ``-k streamer.worker.Worker``, several workers each) on one real
redis-server: an ``IdempotentProducer`` writes through instance A while a live reader (SSE,
then long-poll) follows through instance B and gets every message once, in order, within
milliseconds (woken by the Redis notification, not a poll). And a SIGKILLed instance loses
no acknowledged append."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server

pytestmark = pytest.mark.real

__all__ = ["redis_server"]

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
COUNT = 30


@pytest.fixture
def two(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Server]]:
    env = {
        "REDIS_URL": redis_server.url,
        "STREAMER_DURABLE_LONG_POLL_S": "5",
        "WEB_CONCURRENCY": "2",
    }
    servers = [Server(env, tmp_path / f"gunicorn-{name}.log") for name in ("a", "b")]
    yield servers
    for srv in servers:
        srv.stop()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_the_ts_client_writes_on_one_instance_and_reads_live_on_the_other(
    two: list[Server], mode: str
) -> None:
    node = shutil.which("node")
    assert node, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "@durable-streams" / "client").is_dir(), "run .ci/setup"
    a, b = two
    path = f"/v1/stream/two-{mode}-{time.monotonic_ns()}"
    done = subprocess.run(
        [node, "durable/two_instances.mjs", a.url(path), b.url(path), mode, str(COUNT)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ,
    )
    assert done.returncode == 0, done.stdout + done.stderr + a.log()[-2000:] + b.log()[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["got"] == list(range(COUNT))  # every message once, in order
    delays = result["delays"]
    median = statistics.median(delays)
    print(f"{mode}: append on A to arrival via B: median {median:.1f} ms, max {max(delays):.1f}")
    assert statistics.median(delays) < 100 and max(delays) < 1000
    # What the reader followed is what the store holds, read back through A.
    assert requests.get(a.url(path), params={"offset": "-1"}, timeout=5).json() == [
        {"i": i} for i in range(COUNT)
    ]


@pytest.mark.timeout(60)
def test_a_sigkilled_instance_loses_no_acknowledged_append(two: list[Server]) -> None:
    a, b = two
    path = f"/v1/stream/killed-{time.monotonic_ns()}"
    assert requests.put(a.url(path), headers={"Content-Type": "text/plain"}, timeout=5).ok
    for seq in range(COUNT):
        headers = {
            "Content-Type": "text/plain",
            "Producer-Id": "p",
            "Producer-Epoch": "0",
            "Producer-Seq": str(seq),
        }
        assert (
            requests.post(a.url(path), data=f"{seq};", headers=headers, timeout=5).status_code
            == 200
        )
    for pid in [*a.worker_pids(), a.proc.pid]:
        os.kill(pid, signal.SIGKILL)
    a.proc.wait(timeout=10)
    assert requests.get(b.url(path), params={"offset": "-1"}, timeout=5).text == "".join(
        f"{seq};" for seq in range(COUNT)
    )
    # The producer's retry of its last append, through B, is known: not written twice.
    retry = requests.post(
        b.url(path),
        data=f"{COUNT - 1};",
        headers={
            "Content-Type": "text/plain",
            "Producer-Id": "p",
            "Producer-Epoch": "0",
            "Producer-Seq": str(COUNT - 1),
        },
        timeout=5,
    )
    assert retry.status_code == 204
    assert (
        requests.head(b.url(path), timeout=5).headers["Stream-Next-Offset"]
        == (
            requests.get(b.url(path), params={"offset": "-1"}, timeout=5).headers[
                "Stream-Next-Offset"
            ]
        )
    )


@pytest.mark.timeout(60)
def test_the_python_client_writes_on_one_instance_and_reads_on_the_other(two: list[Server]) -> None:
    from durable_streams import DurableStream, stream

    a, b = two
    url_a = a.url(f"/v1/stream/py-{time.monotonic_ns()}")
    url_b = url_a.replace(a.base_url, b.base_url)
    handle = DurableStream.create(url_a, content_type="application/json", ttl_seconds=600)
    try:
        offsets = [handle.append({"i": i}).next_offset for i in range(COUNT)]
    finally:
        handle.close()
    assert offsets == sorted(offsets) and len(set(offsets)) == COUNT
    head = DurableStream.head_static(url_b)
    assert head.offset == offsets[-1] and head.content_type == "application/json"
    with stream(url_b, live=False) as res:
        assert res.read_json() == [{"i": i} for i in range(COUNT)]
    middle = offsets[9]  # after the tenth message
    with stream(url_b, offset=middle, live=False) as res:
        assert res.read_json() == [{"i": i} for i in range(10, COUNT)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_the_python_client_follows_live_appends(two: list[Server], mode: str) -> None:
    from durable_streams import DurableStream, stream

    a, b = two
    url_a = a.url(f"/v1/stream/py-live-{mode}-{time.monotonic_ns()}")
    url_b = url_a.replace(a.base_url, b.base_url)
    handle = DurableStream.create(url_a, content_type="application/json")
    got: list[object] = []

    def follow() -> None:
        with stream(url_b, offset="-1", live=mode) as res:  # type: ignore[arg-type]
            for item in res.iter_json():
                got.append(item)
                if len(got) == COUNT:
                    return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    try:
        time.sleep(0.3)
        for i in range(COUNT):
            handle.append({"i": i})
    finally:
        handle.close()
    reader.join(timeout=20)
    assert not reader.is_alive() and got == [{"i": i} for i in range(COUNT)]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server({"STREAMER_HEARTBEAT_S": "0.5"}, tmp_path_factory.mktemp("ds") / "gunicorn.log")
    yield srv
    srv.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_the_ts_client_reads_a_views_resumable_stream_live_from_the_start_and_the_middle(
    service: Server, mode: str
) -> None:
    node = shutil.which("node")
    assert node, "node is missing: run .ci/setup"
    started = requests.get(
        service.url("/stream/data"),
        params={"count": 20, "interval": 0.05, "resumable": 1, "format": "ndjson"},
        stream=True,
        timeout=10,
    )
    sid = started.headers["X-Stream-Id"]
    started.close()  # the producer runs on, detached
    url = service.url(f"/v1/stream/resumable/{sid}")
    expected = [f"data chunk {i}\n" for i in range(1, 21)] + [{"end": {"count": 20}}]
    for offset, want in (("-1", expected), (f"{0:016d}_{7:016d}", expected[7:])):
        done = subprocess.run(
            [node, "durable/read_resumable.mjs", url, offset, mode],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr + service.log()[-2000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["items"] == want


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", ["id", "nested"])
def test_streamers_client_follows_a_durable_stream_appended_on_another_instance(
    two: list[Server], shape: str
) -> None:
    from streamer import Client, Data

    a, b = two
    # The shape of a stream id, or a path as Durable Streams users name theirs: both are
    # GET /streams/<path>.
    path = f"ext-{time.monotonic_ns()}"
    if shape == "nested":
        path = f"rooms/{path}/events.v1"
    url_a = a.url(f"/v1/stream/{path}")
    json_type = {"Content-Type": "application/json"}
    assert requests.put(url_a, headers=json_type, timeout=5).status_code == 201

    def write() -> None:
        time.sleep(0.3)
        for i in range(COUNT):
            requests.post(url_a, headers=json_type, data=json.dumps({"i": i}), timeout=5)
        requests.post(url_a, headers={"Stream-Closed": "true"}, timeout=5)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with (
        Client(b.base_url, timeout=20) as client,
        client.records(f"/streams/{path}", resume=True) as records,
    ):
        got = [r.data for r in records if isinstance(r, Data)]
    writer.join(timeout=10)
    assert got == [{"i": i} for i in range(COUNT)]
    assert records.end is not None and records.end.count == COUNT
    assert records.response.headers["X-Stream-Id"] == path
