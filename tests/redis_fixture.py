"""A real ``redis-server`` for the tests: started on a free loopback port, no persistence.

``redis_server`` (session) is shared; ``fresh_redis`` (per test) is one a test may stop and
restart. Where it cannot start: in CI (env ``CI`` set) the test FAILS, loudly, because a green
run that silently skipped every Redis test would prove nothing; elsewhere it skips with the
reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ports import free_port


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"redis-server is required in CI: {reason}", pytrace=False)
    pytest.skip(f"redis-server unavailable: {reason}")


def throwaway_server(binary: str, port: int, folder: Path, log: Path) -> list[str]:
    """The argv of a redis-server for a test: loopback only, no persistence, its files and
    log in ``folder``; the cluster and Sentinel fixtures add their own options after it."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
        "--logfile",
        str(log),
        "--protected-mode",
        "no",
    ]


class RedisServer:
    """One ``redis-server`` process; ``url`` to reach it; ``stop()``/``start()`` to restart it
    on the same port (with no data: persistence is off)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "redis.log"

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not on PATH (Debian: apt-get install redis-server)")
            return
        self.proc = subprocess.Popen(
            throwaway_server(binary, self.port, self.workdir, self._log),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self._log.read_text(errors="replace") if self._log.exists() else ""
                self.proc = None
                _unavailable(f"it exited at start-up:\n{log[-2000:]}")
                return
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        _unavailable(f"it did not answer PING within {timeout} s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by the session's tests (stream ids are random: no clashes)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and start again."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
