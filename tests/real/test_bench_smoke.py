"""The benchmark's smoke mode runs end to end, so bench/ cannot rot. No timing assertions.

It uses the peers that are available without downloading anything: streamer, the Flask
peers (the service's own venv), Node when ``node`` is on PATH, and Starlette only when
``bench/.venv`` already exists (``--no-install``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.real
@pytest.mark.timeout(240)
@pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the load client is C, compiled at run time",
)
def test_bench_smoke_writes_a_report(tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--no-install", "--out", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    text = report.read_text()
    assert "| metric | streamer |" in text
    for metric in (
        "M1 records/s",
        "M2 MB/s",
        "M3 C=50 held",
        "M4 ttfb p50 ms",
        "M3 streams held at jitter p99 ≤ 100 ms",
    ):
        row = next(line for line in text.splitlines() if line.startswith(f"| {metric} |"))
        assert row.split("|")[2].strip() not in ("", "-"), row  # streamer was measured
    assert "## Goals (issue 17" in text
    goal = next(
        line
        for line in text.splitlines()
        if line.startswith("| M4 ttfb p50 ms: streamer / flask-gevent")
    )
    assert goal.split("|")[2].strip().endswith("x"), goal  # a ratio, both peers measured
