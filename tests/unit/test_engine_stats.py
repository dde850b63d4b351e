"""Fast tier of streamer.engine.stats: what one stream did, for logs and metrics."""

from __future__ import annotations

import time

from streamer.engine.stats import StreamStats


def test_a_new_stream_is_open_with_no_first_byte() -> None:
    stats = StreamStats("ndjson")
    assert (stats.outcome, stats.status, stats.records, stats.bytes) == ("open", 200, 0, 0)
    assert stats.ttfb_s is None


def test_ttfb_and_duration_are_measured_from_the_start() -> None:
    stats = StreamStats("sse", started=100.0)
    stats.first_byte, stats.finished = 100.25, 102.0
    assert stats.ttfb_s == 0.25 and stats.duration_s == 2.0


def test_an_unfinished_stream_lasts_until_now() -> None:
    stats = StreamStats("text", started=time.monotonic() - 5)
    assert 5 <= stats.duration_s < 60
