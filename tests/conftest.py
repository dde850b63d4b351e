"""Shared fixtures: the service under real gunicorn with gevent workers on a loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import settings

from .ports import free_port

# Hypothesis examples per property test. The full run (plain `pytest`, as CI and the README run
# it) tries 300; a run of chosen paths (`pytest tests/unit`, one file) is the fast tier and tries
# 25, so it takes seconds. `--hypothesis-profile=full` asks for the full count anywhere.
settings.register_profile("full", max_examples=300)
settings.register_profile("fast", max_examples=25)

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--hypothesis-profile"):
        full = config.args_source == pytest.Config.ArgsSource.TESTPATHS
        settings.load_profile("full" if full else "fast")


class Server:
    """A gunicorn process serving ``wsgi:app``; ``url(path)`` builds request URLs.

    ``argv(port)``, ``cwd``, ``ready_path`` and ``ready_status`` serve another app
    (tests/real/test_package.py; tests/real/test_examples.py: a POST-only app is ready at 405);
    ``port`` restarts a server in place (tests/real/test_scale_out.py)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        workers: int = 1,
        *,
        argv: Callable[[int], list[str]] | None = None,
        cwd: Path = ROOT,
        ready_path: str = "/healthz",
        ready_status: int = 200,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.ready_path = ready_path
        self.ready_status = ready_status
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {
            **os.environ,
            "PORT": str(self.port),
            "STREAMER_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(workers),
            "STREAMER_TESTING": "1",
            "PYTHONUNBUFFERED": "1",
            # Every test client is 127.0.0.1, one client address opening hundreds of streams
            # a second: the per-client limits would refuse most tests. Off here, on (their
            # defaults or a test's own) where they are the subject (test_fairness_live.py).
            "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
            "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
            **env,
        }
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL", "STREAMER_API_KEYS"):
            if name not in env:
                full_env.pop(name, None)
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        command = (
            argv(self.port)
            if argv is not None
            else [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        )
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def url(self, path: str) -> str:
        return self.base_url + path

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                self.stop()
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{log}")
            try:
                if (
                    requests.get(self.url(self.ready_path), timeout=1).status_code
                    == self.ready_status
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise RuntimeError(f"gunicorn did not become healthy in {timeout} s:\n{log}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self._log.closed:
            return
        if self.proc.poll() is None:
            # Cleanup, not a test of graceful shutdown (those send their own signals): a
            # graceful stop gets a few seconds, then gunicorn's quick shutdown (SIGQUIT), so a
            # server left with detached producers or held connections costs no 15 s of CI.
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gevent worker, heartbeat 0.5 s, test endpoints on."""
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    srv = Server({"STREAMER_HEARTBEAT_S": "0.5"}, log)
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[Server] | object]:
    """Start extra servers with their own environment; all are stopped after the test."""
    started: list[Server] = []

    def make(env: dict[str, str] | None = None, workers: int = 1) -> Server:
        srv = Server(env or {}, tmp_path / f"gunicorn-{len(started)}.log", workers)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
