"""Real tier of streamer.server.durable: the Durable Streams protocol's own conformance suite
(``@durable-streams/server-conformance-tests``, pinned in tests/node/package-lock.json, run
under vitest by tests/node/durable/conformance.test.mjs through its ``runConformanceTests``
entry point) against the service under gunicorn with ``-k streamer.worker.Worker``, on the
in-memory store, on a real redis-server and on a real 3-master Redis Cluster.

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
from ..redis_cluster_fixture import RedisCluster, redis_cluster
from ..redis_fixture import RedisServer, redis_server

pytestmark = pytest.mark.real

__all__ = ["redis_cluster", "redis_server"]

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


def start_suite(base_url: str, report: Path) -> subprocess.Popen[str]:
    assert shutil.which("node"), "node is missing: run .ci/setup"
    assert VITEST.is_file(), "vitest is missing: run .ci/setup (npm ci in tests/node)"
    return subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_suite(run: subprocess.Popen[str], report: Path) -> dict[str, Any]:
    output, _ = run.communicate(timeout=240)
    assert report.is_file(), f"vitest wrote no report:\n{output[-3000:]}"
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def outcomes(report: dict[str, Any]) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for file in report["testResults"]:
        for test in file["assertionResults"]:
            by_status.setdefault(test["status"], []).append(test["fullName"])
    return by_status


def check(name: str, report: dict[str, Any], log: str) -> None:
    by_status = outcomes(report)
    failed = by_status.get("failed", [])
    assert not failed, f"{name}: {len(failed)} conformance tests failed: {failed}\n{log[-3000:]}"
    assert len(by_status.get("passed", [])) == CORE_AND_FORK_TESTS, name
    skipped = [name for s, names in by_status.items() if s not in ("passed",) for name in names]
    assert all(name.startswith("Reserved subscription APIs") for name in skipped), skipped


@pytest.mark.timeout(300)
def test_the_conformance_suite_passes_on_memory_redis_and_a_redis_cluster(
    tmp_path: Path, redis_server: RedisServer, redis_cluster: RedisCluster
) -> None:
    # The three runs at once: each mostly waits (long-polls, TTLs), so together they take
    # about as long as one.
    stores = {"memory": {}, "redis": {"REDIS_URL": redis_server.url}}
    stores["redis-cluster"] = {"REDIS_URL": redis_cluster.url}
    servers = {
        name: Server({**SERVER_ENV, **env}, tmp_path / f"gunicorn-{name}.log")
        for name, env in stores.items()
    }
    try:
        runs = {
            name: start_suite(srv.base_url, tmp_path / f"report-{name}.json")
            for name, srv in servers.items()
        }
        reports = {
            name: finish_suite(run, tmp_path / f"report-{name}.json") for name, run in runs.items()
        }
    finally:
        for srv in servers.values():
            srv.stop()
    for name, report in reports.items():
        check(name, report, servers[name].log())
