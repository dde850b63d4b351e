"""Running one of tests/node's scripts: each prints one JSON line of results last.

result = run_node_script("node", "openai_client.mjs", "stream", base_url, model)
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"


def run_node_script(
    node: str,
    script: str,
    *args: str,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
    explain: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Run ``script`` (a path below tests/node) with ``node``, ``env`` added to this process's
    environment; its last stdout line, as JSON. A non-zero exit fails the test with the
    script's output and ``explain()`` (a service's log, say)."""
    done = subprocess.run(
        [node, script, *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, (
        done.stdout[-2000:] + done.stderr[-3000:] + (explain() if explain else "")
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
