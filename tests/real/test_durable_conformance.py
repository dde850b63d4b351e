"""Real tier of streamer.server.durable: the Durable Streams protocol's own conformance suite
(``@durable-streams/server-conformance-tests``, pinned in tests/node/package-lock.json, run
under vitest by tests/node/durable/conformance.test.mjs through its ``runConformanceTests``
entry point) against the service under gunicorn with ``-k streamer.worker.Worker``, once on
the in-memory store and once on a real redis-server.

Every core and fork test must pass. The six opt-in subscription tests (PROTOCOL.md 6-7,
webhooks and pull-wake) are not enabled: streamer does not serve the ``__ds`` APIs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server

pytestmark = pytest.mark.real

__all__ = ["redis_server"]

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
VITEST = NODE_DIR / "node_modules" / ".bin" / "vitest"
#: What 0.3.6 holds besides the opt-in subscription tests: core (incl. closure, producers,
#: property tests) and forks.
CORE_AND_FORK_TESTS = 332
SERVER_ENV = {
    "STREAMER_DURABLE_LONG_POLL_S": "0.5",
    "STREAMER_HEARTBEAT_S": "0.5",
    # The suite's preflight test sends an Origin: CORS is the deployment's to allow.
    "STREAMER_CORS_ORIGINS": "*",
}


def run_suite(base_url: str, report: Path) -> dict[str, Any]:
    assert shutil.which("node"), "node is missing: run .ci/setup"
    assert VITEST.is_file(), "vitest is missing: run .ci/setup (npm ci in tests/node)"
    done = subprocess.run(
        [
            str(VITEST),
            "run",
            "--config",
            "durable/vitest.config.mjs",
            "--reporter=json",
            f"--outputFile={report}",
        ],
        cwd=NODE_DIR,
        env={**os.environ, "DURABLE_BASE_URL": base_url, "DURABLE_LONG_POLL_MS": "2000"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert report.is_file(), f"vitest wrote no report:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def outcomes(report: dict[str, Any]) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for file in report["testResults"]:
        for test in file["assertionResults"]:
            by_status.setdefault(test["status"], []).append(test["fullName"])
    return by_status


def check(report: dict[str, Any], log: str) -> None:
    by_status = outcomes(report)
    failed = by_status.get("failed", [])
    assert not failed, f"{len(failed)} conformance tests failed: {failed}\n{log[-3000:]}"
    assert len(by_status.get("passed", [])) == CORE_AND_FORK_TESTS
    skipped = [name for s, names in by_status.items() if s not in ("passed",) for name in names]
    assert all(name.startswith("Reserved subscription APIs") for name in skipped), skipped


@pytest.mark.timeout(300)
def test_the_conformance_suite_passes_on_the_memory_store(tmp_path: Path) -> None:
    srv = Server(SERVER_ENV, tmp_path / "gunicorn.log")
    try:
        report = run_suite(srv.base_url, tmp_path / "report.json")
    finally:
        srv.stop()
    check(report, srv.log())


@pytest.mark.timeout(300)
def test_the_conformance_suite_passes_on_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    srv = Server({**SERVER_ENV, "REDIS_URL": redis_server.url}, tmp_path / "gunicorn.log")
    try:
        report = run_suite(srv.base_url, tmp_path / "report.json")
    finally:
        srv.stop()
    check(report, srv.log())
