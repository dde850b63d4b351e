"""Metrics: summed updates render as the same samples as direct prometheus_client calls."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streamer.server.metrics import _TTFB_BUCKETS, Metrics
from streamer.server.response import StreamStats


def _stats(ttfb: float | None, outcome: str = "complete") -> StreamStats:
    stats = StreamStats("ndjson", started=0.0, finished=0.5, records=3, bytes=42, outcome=outcome)
    stats.first_byte = None if ttfb is None else ttfb
    return stats


def _samples(text: bytes, name: str) -> dict[str, float]:
    out = {}
    for line in text.decode().splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


@pytest.mark.parametrize("ttfb", [0.0, 0.001, 0.0011, 0.003, 0.25, 31.0], ids=str)
def test_ttfb_histogram_matches_observe(ttfb: float) -> None:
    metrics = Metrics()
    metrics.started("/r", "ndjson")
    metrics.finished("/r", _stats(ttfb))
    reference = CollectorRegistry()
    Histogram(
        "streamer_time_to_first_byte_seconds",
        "x",
        ["route"],
        buckets=_TTFB_BUCKETS,
        registry=reference,
    ).labels("/r").observe(ttfb)
    name = "streamer_time_to_first_byte_seconds"
    got = _samples(metrics.render(), name)
    want = _samples(generate_latest(reference), name)
    assert {k: v for k, v in got.items() if "_created" not in k} == {
        k: v for k, v in want.items() if "_created" not in k
    }


def test_counters_and_open_gauge() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.started("/r", "ndjson")
    metrics.finished("/r", _stats(0.01))
    metrics.finished("/r", _stats(None, outcome="disconnect"))
    text = metrics.render().decode()
    assert 'streamer_open_streams{route="/r"} 1.0' in text
    assert 'streamer_streams_started_total{format="ndjson",route="/r"} 3.0' in text
    assert 'streamer_client_disconnects_total{route="/r"} 1.0' in text
    assert 'streamer_bytes_sent_total{format="ndjson"} 84.0' in text
    assert 'streamer_stream_duration_seconds_count{route="/r"} 2.0' in text
