"""Prometheus metrics for streams, correct across gunicorn workers.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` in the master before
any worker imports prometheus_client, so each worker writes its values to files there and
``/metrics`` on any worker reports the sum over all of them (open streams: over live workers).
In a single process (tests, scripts) each app keeps its own registry: no global state.

Under gevent, counter, gauge and histogram updates are summed in the worker and written at
most every ``FLUSH_S`` seconds (and before each render): every write of a multiprocess value
takes a lock and packs into an mmap, and the nine a stream made were ~8% of a short stream's
worker instructions. So another worker's ``/metrics`` may lag this one by up to ``FLUSH_S``;
a stream that starts and ends within one interval leaves ``streamer_open_streams`` untouched.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import gevent
from gevent import monkey
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from ..engine.stats import StreamStats
from .histograms import BucketedHistogram, Rendered

_TTFB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DURATION_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)

CONTENT_TYPE = CONTENT_TYPE_LATEST
FLUSH_S = 0.25


class Metrics:
    """The stream metrics of one app; an observer of stream starts and ends."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.open = Gauge(
            "streamer_open_streams",
            "Streams open now.",
            ["route"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.started_total = Counter(
            "streamer_streams_started", "Streams started.", ["route", "format"], registry=r
        )
        self.finished_total = Counter(
            "streamer_streams_finished",
            "Streams finished, by outcome: complete, error, timeout, disconnect, shutdown, "
            "send_timeout (the client stopped reading).",
            ["route", "format", "outcome"],
            registry=r,
        )
        self.disconnects = Counter(
            "streamer_client_disconnects",
            "Streams whose client left before the end.",
            ["route"],
            registry=r,
        )
        self.bytes = Counter("streamer_bytes_sent", "Body bytes sent.", ["format"], registry=r)
        self.records = Counter(
            "streamer_records_sent", "Data records sent.", ["format"], registry=r
        )
        self.heartbeats = Counter(
            "streamer_heartbeats_sent", "Pings sent during silence.", registry=r
        )
        self.errors = Counter(
            "streamer_stream_errors", "Streams that failed, by error type.", ["type"], registry=r
        )
        self.upstream_errors = Counter(
            "streamer_upstream_errors",
            "Upstream (LLM API, store) failures, by error type.",
            ["type"],
            registry=r,
        )
        self.bodies_dropped = Counter(
            "streamer_request_bodies_dropped",
            "Request bodies dropped for arriving too slowly (streamer.server.bodydeadline), by "
            "reason: timeout (the whole body was late), slow (below the minimum rate).",
            ["reason"],
            registry=r,
        )
        self.refused_total = Counter(
            "streamer_requests_refused",
            "Requests refused with 429 by a limit, by limit (the error type of the refusal: "
            "too_many_streams_for_key, too_many_token_readers, too_many_streams_for_client, "
            "too_many_new_streams_for_client).",
            ["limit"],
            registry=r,
        )
        # Observations are bucketed here and written summed at the flush
        # (streamer.server.histograms).
        self.ttfb = BucketedHistogram(
            "streamer_time_to_first_byte_seconds",
            "From request to the first body byte.",
            ["route"],
            _TTFB_BUCKETS,
            r,
        )
        self.duration = BucketedHistogram(
            "streamer_stream_duration_seconds", "Stream duration.", ["route"], _DURATION_BUCKETS, r
        )
        # Label children by (metric, labels): ``labels()`` validates and locks on every call,
        # ~10% of streamer's own per-stream CPU. Label values are few (routes, formats,
        # outcomes, error types), so this stays small.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._histograms = (self.ttfb, self.duration)
        self._pending: dict[Any, float] = {}  # counter or gauge child -> amount to add
        # Streams started and ended since the last flush, summed by their labels.
        self._started: dict[tuple[str, str], int] = {}
        self._ended: dict[tuple[Any, ...], list[int]] = {}
        self._flush_timer: Any = None
        self._deferred: bool | None = None  # under gevent: write from a timer
        self._exit_hook = False

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _add(self, child: Any, amount: float) -> None:
        pending = self._pending
        pending[child] = pending.get(child, 0.0) + amount

    def started(self, route: str, fmt: str) -> None:
        started = self._started
        started[route, fmt] = started.get((route, fmt), 0) + 1
        if self._flush_timer is None:
            self._schedule_flush()

    def finished(self, route: str, stats: StreamStats) -> None:
        # Summed per kind of ending; turned into metric updates at the flush (_apply_ended).
        key = (route, stats.format, stats.outcome, stats.error_type, stats.upstream_error)
        sums = self._ended.get(key)
        if sums is None:
            sums = self._ended[key] = [0, 0, 0, 0]
        sums[0] += 1
        sums[1] += stats.bytes
        sums[2] += stats.records
        sums[3] += stats.heartbeats
        labels = (route,)
        if (ttfb := stats.ttfb_s) is not None:
            self.ttfb.observe(labels, ttfb)
        self.duration.observe(labels, stats.duration_s)
        if self._flush_timer is None:
            self._schedule_flush()

    def _apply_ended(self) -> None:
        """The starts and ends summed since the last flush, as pending metric updates."""
        child, add = self._child, self._add
        started, self._started = self._started, {}
        ended, self._ended = self._ended, {}
        for (route, fmt), count in started.items():
            add(child(self.open, route), count)
            add(child(self.started_total, route, fmt), count)
        for (route, fmt, outcome, error_type, upstream), sums in ended.items():
            count, sent, records, heartbeats = sums
            add(child(self.open, route), -count)
            add(child(self.finished_total, route, fmt, outcome), count)
            if outcome == "disconnect":
                add(child(self.disconnects, route), count)
            add(child(self.bytes, fmt), sent)
            add(child(self.records, fmt), records)
            if heartbeats:
                add(self.heartbeats, heartbeats)
            if error_type:
                add(child(self.errors, error_type), count)
                if upstream:
                    add(child(self.upstream_errors, error_type), count)

    def body_dropped(self, reason: str) -> None:
        self._add(self._child(self.bodies_dropped, reason), 1)
        self._schedule_flush()

    def refused(self, limit: str) -> None:
        """A request refused by ``limit`` (429): counted, written at the next flush."""
        self._add(self._child(self.refused_total, limit), 1)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None:
            return
        if self._deferred is None:
            self._deferred = monkey.is_module_patched("socket")
        if not self._deferred:
            self.flush()
            return
        if not self._exit_hook:
            # Updates of the last interval must not die with the worker (the shutdown
            # outcomes of a SIGTERM are counted just before it exits).
            self._exit_hook = True
            atexit.register(self.flush)
        self._flush_timer = gevent.get_hub().loop.timer(FLUSH_S)
        self._flush_timer.start(self.flush)

    def flush(self) -> None:
        """Write the summed updates to the metric values (from the hub under gevent)."""
        if self._flush_timer is not None:
            self._flush_timer.close()
            self._flush_timer = None
        self._apply_ended()
        pending, self._pending = self._pending, {}
        for histogram in self._histograms:
            histogram.flush()
        for child, amount in pending.items():
            if amount:
                child.inc(amount)

    def render(self) -> bytes:
        self.flush()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(Rendered(registry, self._histograms))
        return generate_latest(Rendered(self.registry, self._histograms))
