"""The standing attack suite (bench/attack.py) in its short form, in CI: every row of
docs/hardening.md against nginx in front of two instances on one redis-server, with keys on.
A row that stops holding fails here, named in the table the suite prints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.real


@pytest.mark.timeout(240)
def test_every_row_of_the_hardening_doc_holds_against_a_live_deployment() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "attack.py"), "--short"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    failed = [line for line in table if line.endswith("| FAIL |")]
    assert done.returncode == 0 and not failed, "\n".join(failed) or done.stderr[-3000:]
    assert len(table) >= 2 + 16, done.stdout  # the header, its rule and every row
