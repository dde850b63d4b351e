"""Histograms whose observations are summed in the worker: stored as counters, rendered as
histograms.

``Histogram.observe`` writes twice per observation (the sum and one bucket), and under
gunicorn each write takes a lock and packs into a multiprocess mmap file: four writes per
stream for the two stream histograms. prometheus_client has no public way to add many
observations to a histogram at once, so :class:`BucketedHistogram` buckets them itself and
keeps two counters (public ``Counter.inc``, summed over workers like any counter): the count
per bucket and the sum. :class:`Rendered` turns them back into the histogram family that
``Histogram`` renders (its samples, its order), in a single process and across workers alike.
A flush then writes once per bucket that was hit and once for the sum, for all the streams
that ended since the last one.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


class BucketedHistogram:
    """A histogram, as two counters: observations per bucket (label ``le``) and their sum."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._bounds = (*buckets, math.inf)
        self.les: tuple[str, ...] = tuple(floatToGoString(b) for b in self._bounds)  # type: ignore[no-untyped-call]
        self.raw = (f"{name}_bucketed", f"{name}_bucketed_sum")  # the counters' names
        self.counts = Counter(
            self.raw[0], f"{name}, observations per bucket.", [*labelnames, "le"], registry=registry
        )
        self.sums = Counter(
            self.raw[1], f"{name}, the sum of observations.", labelnames, registry=registry
        )

        self._children: dict[tuple[Any, ...], Any] = {}  # (which, *labels) -> counter child
        # Observations since the last flush: (*labels, le) -> count, labels -> sum.
        self._counts: dict[tuple[str, ...], int] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def le(self, value: float) -> str:
        """The bucket ``Histogram.observe(value)`` counts ``value`` in: the first bound
        not below it."""
        return self.les[bisect_left(self._bounds, value)]

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """``Histogram.labels(*labels).observe(value)``, written at the next :meth:`flush`."""
        key = (*labels, self.les[bisect_left(self._bounds, value)])
        counts, sums = self._counts, self._sums
        counts[key] = counts.get(key, 0) + 1
        sums[labels] = sums.get(labels, 0.0) + value

    def flush(self) -> None:
        """Write the observations since the last flush: one write per bucket hit, one per
        label set for the sum."""
        counts, self._counts = self._counts, {}
        sums, self._sums = self._sums, {}
        for key, n in counts.items():
            self._child(self.counts, key).inc(n)
        for labels, total in sums.items():
            if total:
                self._child(self.sums, labels).inc(total)

    def _child(self, counter: Counter, labels: tuple[str, ...]) -> Any:
        # ``labels()`` validates and locks on every call; label values are few.
        key = (counter is self.sums, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    def family(self, counts: Metric | None, sums: Metric | None) -> HistogramMetricFamily:
        """The histogram, from the collected families of its two counters."""
        names = self.labelnames
        per: dict[tuple[str, ...], dict[str, float]] = {}
        total: dict[tuple[str, ...], float] = {}
        for sample in counts.samples if counts is not None else ():
            if sample.name.endswith("_total"):
                key = tuple(sample.labels[n] for n in names)
                per.setdefault(key, {})[sample.labels["le"]] = sample.value
        for sample in sums.samples if sums is not None else ():
            if sample.name.endswith("_total"):
                total[tuple(sample.labels[n] for n in names)] = sample.value
        family = HistogramMetricFamily(self.name, self.documentation, labels=names)
        for key in sorted(per.keys() | total.keys()):
            hits, running, buckets = per.get(key, {}), 0.0, []
            for le in self.les:
                running += hits.get(le, 0.0)
                buckets.append((le, running))
            family.add_metric(key, buckets, total.get(key, 0.0))
        return family


class Rendered:
    """What a registry collects, with each :class:`BucketedHistogram`'s counters turned back
    into its histogram; for ``generate_latest``."""

    def __init__(self, source: Any, histograms: Sequence[BucketedHistogram]) -> None:
        self._source = source
        self._histograms = histograms
        self._raw = {n for h in histograms for n in h.raw}

    def collect(self) -> Iterator[Metric]:
        raw: dict[str, Metric] = {}
        for family in self._source.collect():
            if family.name in self._raw:
                raw[family.name] = family
            else:
                yield family
        for h in self._histograms:
            yield h.family(raw.get(h.raw[0]), raw.get(h.raw[1]))
