"""The Durable Streams benchmark's smoke mode runs end to end (streamer and the Node
reference server, bench/bench_durable.py), so it cannot rot. No timing assertions: speed
claims come from the benchmark itself (docs/benchmarks.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.real
@pytest.mark.timeout(120)
def test_bench_durable_smoke_prints_both_columns() -> None:
    assert shutil.which("node"), "node is missing: run .ci/setup"
    run = subprocess.run(
        [sys.executable, "bench/bench_durable.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "| metric | streamer | Node reference (@durable-streams/server) |" in run.stdout
    complete = next(line for line in run.stdout.splitlines() if "readers complete" in line)
    assert complete.split("|")[2:4] == [" 5 ", " 5 "]  # every reader got every message
