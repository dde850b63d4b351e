"""Writes ``docs/configuration.md`` from the settings declared in :mod:`streamer.config` (the
library's) and :mod:`streamer.service.settings` (the demo service's).

    python -m streamer.service.configdoc > docs/configuration.md

tests/unit/test_service_configdoc.py fails when the file and the declarations disagree.
"""

from __future__ import annotations

import sys

from ..config import markdown
from .settings import ServiceConfig

GENERATED_BY = (
    "`python -m streamer.service.configdoc > docs/configuration.md` from "
    "streamer/config.py and streamer/service/settings.py"
)


def page() -> str:
    """``docs/configuration.md``."""
    return markdown(ServiceConfig, GENERATED_BY)


if __name__ == "__main__":  # pragma: no cover - a tool
    sys.stdout.write(page())
