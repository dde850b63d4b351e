"""Fast tier of streamer.access: one access line per stream, when it ends."""

from __future__ import annotations

import logging

import pytest

from streamer.engine.stats import StreamStats
from streamer.server.access import AccessLog


def test_a_finished_stream_is_one_line_with_its_route_outcome_and_ttfb(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stats = StreamStats("ndjson", started=10.0)
    stats.first_byte, stats.finished, stats.records, stats.bytes = 10.0125, 11.5, 3, 120
    stats.outcome, stats.error_type, stats.status = "error", "upstream_error", 200
    with caplog.at_level(logging.INFO, logger="streamer.access"):
        AccessLog().finished("/chat", stats)
    [line] = [r.getMessage() for r in caplog.records if r.name == "streamer.access"]
    assert line == (
        "stream route=/chat status=200 format=ndjson outcome=error records=3 "
        "bytes=120 duration_s=1.500 ttfb_ms=12.5 error=upstream_error"
    )


def test_a_stream_that_never_sent_a_byte_has_no_ttfb(caplog: pytest.LogCaptureFixture) -> None:
    stats = StreamStats("text", started=1.0)
    stats.finished, stats.outcome, stats.status = 1.0, "error", 503
    with caplog.at_level(logging.INFO, logger="streamer.access"):
        AccessLog().finished("/stream/data", stats)
    assert "ttfb_ms=- " not in caplog.text and caplog.text.rstrip().endswith("ttfb_ms=-")
