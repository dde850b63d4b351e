"""Fast tier of streamer.server.histograms: bucketed counters render as Histogram.observe would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from streamer.server.histograms import BucketedHistogram, Rendered

BUCKETS = (0.001, 0.01, 1, 10)
VALUES = (0.0, 0.001, 0.0011, 0.01, 0.5, 1.0, 10.0, 11.0, 300.0)


def _lines(text: bytes) -> list[str]:
    return [
        line
        for line in text.decode().splitlines()
        if not line.startswith("#") and "_created" not in line
    ]


def _ours(values: dict[str, tuple[float, ...]]) -> bytes:
    registry = CollectorRegistry()
    h = BucketedHistogram("t_seconds", "T.", ["route"], BUCKETS, registry)
    for i, (route, vs) in enumerate(values.items()):
        for v in vs:
            h.observe((route,), v)
        if i % 2:
            h.flush()  # a flush between observations changes nothing
    h.flush()
    return generate_latest(Rendered(registry, [h]))


def _reference(values: dict[str, tuple[float, ...]]) -> bytes:
    registry = CollectorRegistry()
    h = Histogram("t_seconds", "T.", ["route"], buckets=BUCKETS, registry=registry)
    for route, vs in values.items():
        for v in vs:
            h.labels(route).observe(v)
    return generate_latest(registry)


def test_renders_the_samples_observe_renders() -> None:
    values = {"/a": VALUES, "/b": (0.5, 0.5, 20.0)}
    assert _lines(_ours(values)) == _lines(_reference(values))


def test_each_value_counts_in_the_bucket_observe_picks() -> None:
    for v in VALUES:
        assert _lines(_ours({"/a": (v,)})) == _lines(_reference({"/a": (v,)}))


def test_no_observations_render_the_family_alone() -> None:
    ours, theirs = _ours({}).decode(), _reference({}).decode()
    assert ours == theirs
    assert "# TYPE t_seconds histogram" in ours and "_bucketed" not in ours


def test_other_metrics_pass_through() -> None:
    registry = CollectorRegistry()
    h = BucketedHistogram("t_seconds", "T.", ["route"], BUCKETS, registry)
    h.counts.labels("/a", h.le(0.5)).inc(3)
    h.sums.labels("/a").inc(1.5)
    Counter("other", "Other.", registry=registry).inc(2)
    text = generate_latest(Rendered(registry, [h])).decode()
    assert "other_total 2.0" in text
    assert 't_seconds_count{route="/a"} 3.0' in text and 't_seconds_sum{route="/a"} 1.5' in text
    assert 't_seconds_bucket{le="1.0",route="/a"} 3.0' in text


def test_a_flush_writes_once_per_bucket_hit_and_once_for_the_sum() -> None:
    registry = CollectorRegistry()
    h = BucketedHistogram("t_seconds", "T.", ["route"], BUCKETS, registry)
    for v in (0.5, 0.6, 0.7, 5.0):
        h.observe(("/a",), v)
    writes: list[tuple[str, float]] = []
    for le in ("1.0", "10.0"):
        child = h.counts.labels("/a", le)
        child.inc = lambda n, le=le: writes.append((le, n))  # type: ignore[method-assign]
    h.sums.labels("/a").inc = lambda n: writes.append(("sum", n))  # type: ignore[method-assign]
    h.flush()
    assert writes == [("1.0", 3), ("10.0", 1), ("sum", 6.8)]
    h.flush()
    assert len(writes) == 3
