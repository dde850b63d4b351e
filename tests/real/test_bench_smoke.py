"""The benchmarks' smoke modes run end to end, so bench/ cannot rot. No timing assertions.

Both run with ``--no-install``, on the peers available without downloading anything.
bench/run.py: streamer, the Flask peers (the service's own venv), Node when ``node`` is on
PATH, and Starlette only when ``bench/.venv`` already exists. bench/bench_gateway.py (issue
25): streamer and the Flask gateway always (this venv has Flask, gevent and openai); the
FastAPI, sse-starlette and LiteLLM gateways only when bench/.venv already has their packages
(bench/run.py or a full bench_gateway.py run installs them), else their rows say "not
measured" and why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


GATEWAYS = ("streamer", "fastapi", "fastapi-sse", "flask", "litellm")
smoke = pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the load client is C, compiled at run time",
)


def run_smoke(script: str, report: Path) -> str:
    """``bench/<script> --smoke --no-install --out report``; the report's text."""
    run = subprocess.run(
        [sys.executable, f"bench/{script}", "--smoke", "--no-install", "--out", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return report.read_text()


@pytest.mark.real
@pytest.mark.timeout(240)
@smoke
def test_bench_smoke_writes_a_report(tmp_path: Path) -> None:
    text = run_smoke("run.py", tmp_path / "RESULTS.md")
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


@pytest.mark.real
@pytest.mark.timeout(240)
@smoke
def test_gateway_smoke_reports_every_gateway(tmp_path: Path) -> None:
    lines = run_smoke("bench_gateway.py", tmp_path / "gateway.md").splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| gateway | sustained"))
    table = lines[head + 2 : lines.index("", head)]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table}
    assert sorted(rows) == sorted(GATEWAYS), table
    for name in ("streamer", "flask"):  # always installed here
        assert rows[name] != "not measured", table
    for name, cell in rows.items():
        if cell == "not measured":  # only for want of packages, never a failure
            assert f"- `{name}` not measured: its packages are not installed." in lines, lines
