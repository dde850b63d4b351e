"""A real 3-master Redis Cluster for the tests: three ``redis-server --cluster-enabled yes`` on
free loopback ports (each with its cluster bus on a free port of its own, ``--cluster-port``,
since port+10000 may be taken or out of range), joined by ``redis-cli --cluster create``.

``redis_cluster`` (session) is shared; stream ids are random, so tests do not clash.
``redis_cluster_with_replicas`` (per test) adds a replica to each master (six nodes), for a
test that kills a master. Where it
cannot start: fails in CI, skips elsewhere (as tests/redis_fixture.py does).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ports import free_port
from .redis_fixture import _unavailable, throwaway_server


class RedisCluster:
    """Three masters (and ``replicas`` replicas of each); ``url`` is the ``redis+cluster://``
    form for REDIS_URL."""

    def __init__(self, workdir: Path, masters: int = 3, replicas: int = 0) -> None:
        self.workdir = workdir
        self.replicas = replicas
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 30.0) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            _unavailable("redis-server/redis-cli are not on PATH (apt-get install redis-server)")
            return
        for port in self.ports:
            node = self.workdir / str(port)
            node.mkdir(exist_ok=True)
            self.procs.append(
                subprocess.Popen(
                    [
                        *throwaway_server(server, port, node, node / "log"),
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node / "nodes.conf"),
                        "--cluster-port",
                        str(free_port()),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while not self._cli(cli, port, "PING").startswith("PONG"):
                if time.monotonic() > deadline:
                    self.stop()
                    _unavailable(f"a cluster node on {port} did not answer PING")
                time.sleep(0.05)
        created = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if created.returncode != 0:
            self.stop()
            _unavailable(f"redis-cli --cluster create failed:\n{created.stdout[-2000:]}")
        while not all(
            "cluster_state:ok" in self._cli(cli, p, "CLUSTER", "INFO") for p in self.ports
        ) or not self._replicas_in_step(cli):
            if time.monotonic() > deadline:
                self.stop()
                _unavailable(f"the cluster did not reach cluster_state:ok in {timeout} s")
            time.sleep(0.1)

    def _replicas_in_step(self, cli: str) -> bool:
        replicas = [
            p for p in self.ports if "role:slave" in self._cli(cli, p, "INFO", "replication")
        ]
        return len(replicas) == len(self.ports) - len(self.ports) // (1 + self.replicas) and all(
            "master_link_status:up" in self._cli(cli, p, "INFO", "replication") for p in replicas
        )

    def masters(self) -> list[int]:
        """The ports of the live nodes that say they are masters."""
        cli = shutil.which("redis-cli") or "redis-cli"
        return [p for p in self.ports if "role:master" in self._cli(cli, p, "INFO", "replication")]

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (no shutdown, no last write)."""
        proc = self.procs[self.ports.index(port)]
        proc.kill()
        proc.wait(timeout=5)

    @staticmethod
    def _cli(cli: str, port: int, *command: str) -> str:
        try:
            return subprocess.run(
                [cli, "-h", "127.0.0.1", "-p", str(port), *command],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except subprocess.TimeoutExpired:
            return ""

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs = []


@pytest.fixture
def redis_cluster_with_replicas(tmp_path: Path) -> Iterator[RedisCluster]:
    """Three masters with a replica each, of this test's own (it may kill a master)."""
    cluster = RedisCluster(tmp_path, replicas=1)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    yield cluster
    cluster.stop()
