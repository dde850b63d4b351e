"""A real Redis primary with two replicas, watched by three Sentinels, for the tests.

Six processes on free loopback ports (the layout Redis's Sentinel documentation starts
from): ``redis-server`` as the primary, two as its replicas (``--replicaof``, diskless sync
so they are in step at once; two, so that a promoted one still has a replica for ``WAIT``),
and three ``redis-server
<conf> --sentinel`` (quorum 2) with a short ``down-after-milliseconds`` and
``failover-timeout``, so that a killed primary is replaced in a few seconds rather than the
default 30 s + 3 min. ``url`` is the ``redis+sentinel://`` form for REDIS_URL.

A Sentinel whose timer runs 2 s late (a starved machine, a wall-clock jump) enters TILT
mode and fails nothing over for 30 s; :meth:`RedisSentinel.logs` shows it (``+tilt``).

``redis_sentinel`` (session) is shared by tests that do not kill anything; ``fresh_sentinel``
(per test) is one a test may fail over. Where it cannot start: fails in CI, skips elsewhere
(as tests/redis_fixture.py does).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from .ports import free_port
from .redis_fixture import _unavailable, throwaway_server

SERVICE = "streamer"
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 3000


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)


class RedisSentinel:
    """A primary, its replicas and three Sentinels; ``kill_primary()`` is the failure under
    test."""

    def __init__(self, workdir: Path, replicas: int = 2) -> None:
        self.workdir = workdir
        self.primary_port = free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.url = (
            "redis+sentinel://"
            + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
            + f"/{SERVICE}/0"
        )
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def _spawn(self, port: int, argv: list[str]) -> None:
        self.procs[port] = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _server(self, binary: str, port: int, *extra: str) -> None:
        node = self.workdir / str(port)
        node.mkdir(exist_ok=True)
        self._spawn(
            port,
            [
                *throwaway_server(binary, port, node, node / "log"),
                "--repl-diskless-sync",
                "yes",
                "--repl-diskless-sync-delay",
                "0",
                *extra,
            ],
        )

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not on PATH (Debian: apt-get install redis-server)")
            return
        self._server(binary, self.primary_port)
        for port in self.replica_ports:
            self._server(binary, port, "--replicaof", "127.0.0.1", str(self.primary_port))
        # Each Sentinel is told its own id and the others' (the lines Sentinel itself writes
        # once it has found them): otherwise they find each other through the primary's hello
        # messages, every 2 s, and starting took up to 10 s.
        ids = {port: f"{port:040x}" for port in self.sentinel_ports}
        for port in self.sentinel_ports:
            node = self.workdir / f"sentinel-{port}"
            node.mkdir(exist_ok=True)
            conf = node / "sentinel.conf"  # Sentinel rewrites its own file: one each
            known = "".join(
                f"sentinel known-sentinel {SERVICE} 127.0.0.1 {other} {ids[other]}\n"
                for other in self.sentinel_ports
                if other != port
            ) + "".join(
                f"sentinel known-replica {SERVICE} 127.0.0.1 {replica}\n"
                for replica in self.replica_ports
            )
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {node}\n"
                f"logfile {node / 'log'}\n"
                f"sentinel myid {ids[port]}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n" + known
            )
            self._spawn(port, [binary, str(conf), "--sentinel"])
        deadline = time.monotonic() + timeout
        while not self.settled():
            for port, proc in self.procs.items():
                if proc.poll() is not None:
                    self.stop()
                    _unavailable(f"a redis-server on {port} exited at start-up")
            if time.monotonic() > deadline:
                self.stop()
                _unavailable(
                    f"the Sentinels did not see a primary, a replica and each other in {timeout} s"
                )
            time.sleep(0.1)

    def settled(self) -> bool:
        """Every replica is in step and every Sentinel knows the primary, the replicas (up) and
        the two other Sentinels."""
        try:
            for port in self.replica_ports:
                with _client(port) as replica:
                    if replica.info("replication").get("master_link_status") != "up":
                        return False
            for port in self.sentinel_ports:
                with _client(port) as sentinel:
                    state = sentinel.sentinel_master(SERVICE)
                    replicas = sentinel.sentinel_slaves(SERVICE)
                if state.get("num-other-sentinels") != 2 or len(replicas) != len(
                    self.replica_ports
                ):
                    return False
                if any(r["is_sdown"] or r.get("master-link-status") != "ok" for r in replicas):
                    return False
        except redis.RedisError:
            return False
        return True

    def primary(self) -> int | None:
        """The port every Sentinel names as the primary now (None if they disagree or none)."""
        named = set()
        for port in self.sentinel_ports:
            try:
                with _client(port) as sentinel:
                    addr = sentinel.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                addr = None
            named.add(int(addr[1]) if addr else None)
        return named.pop() if len(named) == 1 else None

    def logs(self, lines: int = 15) -> str:
        """The end of each Sentinel's log, for a failure message (elections, promotions)."""
        out = []
        for port in self.sentinel_ports:
            log = self.workdir / f"sentinel-{port}" / "log"
            text = log.read_text(errors="replace") if log.exists() else ""
            out.append(f"-- sentinel {port}:\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no shutdown, no last write); its port."""
        port = self.primary()
        assert port is not None, "no primary to kill"
        self.procs[port].kill()
        self.procs[port].wait(timeout=5)
        return port

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs = {}


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinel]:
    """Shared by the session's tests that fail nothing over."""
    setup = RedisSentinel(tmp_path_factory.mktemp("redis-sentinel"))
    setup.start()
    yield setup
    setup.stop()


@pytest.fixture
def fresh_sentinel(tmp_path: Path) -> Iterator[RedisSentinel]:
    """This test's own, which it may fail over."""
    setup = RedisSentinel(tmp_path)
    setup.start()
    yield setup
    setup.stop()
