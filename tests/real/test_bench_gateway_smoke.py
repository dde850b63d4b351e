"""bench/bench_gateway.py's smoke mode runs end to end, a row per gateway. No timing assertions.

It runs with ``--no-install``: streamer and the Flask peer always (this venv has Flask, gevent
and openai); the FastAPI, sse-starlette and LiteLLM peers only when bench/.venv already has
their packages (bench/run.py or a full bench_gateway.py run installs them), else their rows
say "not measured" and why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = ("streamer", "fastapi", "fastapi-sse", "flask", "litellm")


@pytest.mark.real
@pytest.mark.timeout(240)
@pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None,
    reason="the load client is C, compiled at run time",
)
def test_gateway_smoke_reports_every_gateway(tmp_path: Path) -> None:
    report = tmp_path / "gateway.md"
    run = subprocess.run(
        [sys.executable, "bench/bench_gateway.py", "--smoke", "--no-install", "--out", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    lines = report.read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| gateway | sustained"))
    table = lines[head + 2 : lines.index("", head)]
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table}
    assert sorted(rows) == sorted(GATEWAYS), table
    for name in ("streamer", "flask"):  # always installed here
        assert rows[name] != "not measured", table
    for name, cell in rows.items():
        if cell == "not measured":  # only for want of packages, never a failure
            assert f"- `{name}` not measured: its packages are not installed." in lines, lines
