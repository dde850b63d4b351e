"""Real tier of streamer.server.durable behind the nginx of deploy/ (its template, TLS with a
throwaway certificate, tests/nginx_fixture.py) in front of two service instances on one
redis-server: both official clients write and read through the balancer, so consecutive
requests of one producer or reader land on either instance, and every message arrives once,
in order. The protocol's long-poll and SSE reads pass through nginx unbuffered."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import Server
from ..nginx_fixture import Nginx
from ..redis_fixture import RedisServer, redis_server

pytestmark = pytest.mark.real

__all__ = ["redis_server"]

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
COUNT = 30


@pytest.fixture
def edge(tmp_path: Path, redis_server: RedisServer) -> Iterator[Nginx]:
    env = {"REDIS_URL": redis_server.url, "STREAMER_DURABLE_LONG_POLL_S": "5"}
    servers = [Server(env, tmp_path / f"gunicorn-{name}.log", workers=2) for name in "ab"]
    (tmp_path / "nginx").mkdir()
    nginx = Nginx(tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers])
    yield nginx
    nginx.stop()
    for srv in servers:
        srv.stop()


def served_by(nginx: Nginx) -> set[str]:
    return set(nginx.upstream_of().values())


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_the_ts_client_writes_and_follows_through_nginx(edge: Nginx, mode: str) -> None:
    node = shutil.which("node")
    assert node, "node is missing: run .ci/setup"
    url = edge.https_url(f"/v1/stream/edge-{mode}-{time.monotonic_ns()}")
    done = subprocess.run(
        [node, "durable/two_instances.mjs", url, url, mode, str(COUNT)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(edge.folder / "cert.pem")},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["got"] == list(range(COUNT))  # every message once, in order
    print(f"{mode} through nginx: median {statistics.median(result['delays']):.1f} ms")
    assert statistics.median(result["delays"]) < 200
    time.sleep(0.3)  # nginx writes a request's access line when it ends
    assert len(served_by(edge)) == 2, "nginx sent every request to one instance"


@pytest.mark.timeout(60)
def test_the_python_client_writes_and_reads_through_nginx(edge: Nginx) -> None:
    from durable_streams import DurableStream, stream

    url = edge.https_url(f"/v1/stream/edge-py-{time.monotonic_ns()}")
    trust = ssl.create_default_context(cafile=str(edge.folder / "cert.pem"))
    with httpx.Client(verify=trust, timeout=30) as client:
        handle = DurableStream.create(url, content_type="application/json", client=client)
        try:
            offsets = [handle.append({"i": i}).next_offset for i in range(COUNT)]
        finally:
            handle.close()
        assert offsets == sorted(offsets) and len(set(offsets)) == COUNT
        with stream(url, live=False, client=client) as res:
            assert res.read_json() == [{"i": i} for i in range(COUNT)]
        with stream(url, offset=offsets[9], live=False, client=client) as res:
            assert res.read_json() == [{"i": i} for i in range(10, COUNT)]
    time.sleep(0.3)
    assert len(served_by(edge)) == 2, "nginx sent every request to one instance"
