"""The access line: one log line per stream, when it ends (logger ``streamer.access``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine.stats import StreamStats

access_log = logging.getLogger("streamer.access")


class AccessLog:
    """One log line per stream, when it ends. Routes, not URLs: query strings may hold keys."""

    def started(self, route: str, fmt: str) -> None:
        pass

    def finished(self, route: str, stats: StreamStats) -> None:
        ttfb = stats.ttfb_s
        access_log.info(
            "stream route=%s status=%d format=%s outcome=%s records=%d bytes=%d "
            "duration_s=%.3f ttfb_ms=%s%s",
            route,
            stats.status,
            stats.format,
            stats.outcome,
            stats.records,
            stats.bytes,
            stats.duration_s,
            "-" if ttfb is None else f"{ttfb * 1000:.1f}",
            f" error={stats.error_type}" if stats.error_type else "",
        )
