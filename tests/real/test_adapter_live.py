"""The adapter in a process of its own: gevent-patched (tests/_adapter_gevent_check.py), and
exiting promptly after use. The in-process tests are in tests/unit/test_adapter.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent.parent  # tests/, where the helper scripts live


@pytest.fixture(scope="module")
def patched_results() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "_adapter_gevent_check.py")],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=HERE.parent,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def result(results: dict[str, Any], name: str) -> Any:
    entry = results[name]
    assert "error" not in entry, f"{name}: {entry.get('error')}"
    return entry["result"]


def test_patched_hub_is_never_blocked(patched_results: dict[str, Any]) -> None:
    r = result(patched_results, "hub_not_blocked")
    assert r["items"] == [0, 1, 2, 3]
    # 1 s of waiting on a producer that sleeps 0.25 s per item; the ticker sleeps 10 ms.
    assert r["ticks"] >= 30
    assert r["max_gap"] < 0.2


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        pytest.param("to_thread", [42], id="asyncio.to_thread"),
        pytest.param("anyio_to_thread", ["ok"], id="anyio.to_thread"),
    ],
)
def test_patched_thread_offloading_works_in_producers(
    patched_results: dict[str, Any], check: str, expected: list[Any]
) -> None:
    assert result(patched_results, check) == expected


def test_patched_name_lookup_works_in_producers(patched_results: dict[str, Any]) -> None:
    (count,) = result(patched_results, "getaddrinfo")
    assert count >= 1


def test_patched_streams_wait_concurrently(patched_results: dict[str, Any]) -> None:
    r = result(patched_results, "concurrent_streams")
    assert r["ok"]
    assert r["wall"] < r["serial_wall"] / 2


def test_patched_items_of_one_tick_wake_the_hub_once(patched_results: dict[str, Any]) -> None:
    r = result(patched_results, "one_wake_per_tick")
    assert r["items"] == r["streams"]
    # run_sync's own result and the 20 items: a send per tick, not one per stream.
    assert 1 <= r["sends"] <= 3


def test_patched_close_cancels(patched_results: dict[str, Any]) -> None:
    r = result(patched_results, "close_cancels")
    assert r["first"] == 1
    assert r["finally"] is True
    assert r["exc"] == "CancelledError"
    assert r["close_s"] < 5.0


def test_patched_no_leaks(patched_results: dict[str, Any]) -> None:
    r = result(patched_results, "no_leaks")
    assert r["after_600"] == r["after_10"]


def test_patched_forked_child_gets_its_own_loop(patched_results: dict[str, Any]) -> None:
    assert result(patched_results, "fork") == {"child_exit": 0}


EXIT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import asyncio, sys
sys.path.insert(0, %r)
from streamer.adapter import iterate_async

async def gen():
    # Name lookup runs in the bridge loop's default executor.
    await asyncio.get_running_loop().getaddrinfo("localhost", 80)
    yield 1

print(list(iterate_async(gen)), flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("patched", [True, False])
def test_a_process_that_used_the_executor_exits_promptly(patched: bool) -> None:
    """A gunicorn worker that resolved a name on the bridge loop once sat at exit until its
    graceful timeout killed it: the interpreter joined executor threads that were greenlets
    of the loop thread's hub. Five runs, each must exit within 10 s (it hung every time)."""
    script = EXIT_SCRIPT % str(HERE.parent)
    if not patched:
        script = script.replace("monkey.patch_all()", "")
    for _ in range(5):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=HERE.parent,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "[1]"
        assert time.monotonic() - started < 10
