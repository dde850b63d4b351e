"""Fast tier of streamer.service.configdoc: docs/configuration.md is what the declaration in
streamer.config and streamer.service.settings generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamer.service.configdoc import page

ROOT = Path(__file__).resolve().parents[2]


def test_docs_configuration_md_is_generated_from_the_declaration() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == page(), (
        "docs/configuration.md is stale: run "
        "`python -m streamer.service.configdoc > docs/configuration.md`"
    )


def test_the_generator_writes_what_the_test_compares() -> None:
    out = subprocess.run(
        [sys.executable, "-W", "error", "-m", "streamer.service.configdoc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == page()
