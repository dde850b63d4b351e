"""Writes ``docs/configuration.md`` from the settings declared in :mod:`streamer.config`.

    python -m streamer.configdoc > docs/configuration.md

tests/unit/test_configdoc.py fails when the file and the declaration disagree.
"""

from __future__ import annotations

import sys

from .config import markdown

if __name__ == "__main__":  # pragma: no cover - a tool
    sys.stdout.write(markdown())
