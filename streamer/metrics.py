"""Prometheus metrics for streams, correct across gunicorn workers.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` in the master before
any worker imports prometheus_client, so each worker writes its values to files there and
``/metrics`` on any worker reports the sum over all of them (open streams: over live workers).
In a single process (tests, scripts) each app keeps its own registry: no global state.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .response import StreamStats

_TTFB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DURATION_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The stream metrics of one app; an observer of stream starts and ends."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.open = Gauge("streamer_open_streams", "Streams open now.", ["route"],
                          registry=r, multiprocess_mode="livesum")
        self.started_total = Counter("streamer_streams_started", "Streams started.",
                                     ["route", "format"], registry=r)
        self.finished_total = Counter(
            "streamer_streams_finished",
            "Streams finished, by outcome: complete, error, timeout, disconnect, shutdown, "
            "send_timeout (the client stopped reading).",
            ["route", "format", "outcome"], registry=r)
        self.disconnects = Counter("streamer_client_disconnects",
                                   "Streams whose client left before the end.", ["route"],
                                   registry=r)
        self.bytes = Counter("streamer_bytes_sent", "Body bytes sent.", ["format"], registry=r)
        self.records = Counter("streamer_records_sent", "Data records sent.", ["format"],
                               registry=r)
        self.heartbeats = Counter("streamer_heartbeats_sent", "Pings sent during silence.",
                                  registry=r)
        self.errors = Counter("streamer_stream_errors", "Streams that failed, by error type.",
                              ["type"], registry=r)
        self.upstream_errors = Counter("streamer_upstream_errors",
                                       "Upstream (LLM API, store) failures, by error type.",
                                       ["type"], registry=r)
        self.ttfb = Histogram("streamer_time_to_first_byte_seconds",
                              "From request to the first body byte.", ["route"],
                              buckets=_TTFB_BUCKETS, registry=r)
        self.duration = Histogram("streamer_stream_duration_seconds", "Stream duration.",
                                  ["route"], buckets=_DURATION_BUCKETS, registry=r)
        # Label children by (metric, labels): ``labels()`` validates and locks on every call,
        # ~10% of streamer's own per-stream CPU. Label values are few (routes, formats,
        # outcomes, error types), so this stays small.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def started(self, route: str, fmt: str) -> None:
        self._child(self.open, route).inc()
        self._child(self.started_total, route, fmt).inc()

    def finished(self, route: str, stats: StreamStats) -> None:
        child = self._child
        child(self.open, route).dec()
        child(self.finished_total, route, stats.format, stats.outcome).inc()
        if stats.outcome == "disconnect":
            child(self.disconnects, route).inc()
        child(self.bytes, stats.format).inc(stats.bytes)
        child(self.records, stats.format).inc(stats.records)
        if stats.heartbeats:
            self.heartbeats.inc(stats.heartbeats)
        if stats.error_type:
            child(self.errors, stats.error_type).inc()
            if stats.upstream_error:
                child(self.upstream_errors, stats.error_type).inc()
        if stats.ttfb_s is not None:
            child(self.ttfb, route).observe(stats.ttfb_s)
        child(self.duration, route).observe(stats.duration_s)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
