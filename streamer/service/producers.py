"""Data producers: plain generators that take plain arguments (no request context).

They sleep with ``gevent.sleep`` so that, under gunicorn's gevent worker or not, a sleeping
producer never blocks other streams.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import gevent


def data_chunks(count: int, interval: float) -> Iterator[str]:
    """The classic generator: ``data chunk 1`` ... ``data chunk N``, one line each,
    ``interval`` seconds apart (the first at once)."""
    for i in range(1, count + 1):
        if i > 1 and interval > 0:
            gevent.sleep(interval)
        yield f"data chunk {i}\n"


def series(count: int, interval: float, seed: int) -> Iterator[dict[str, Any]]:
    """Points ``{"i": 1, "y": 50.0}`` of a smooth random walk for a live chart; the same
    ``seed`` gives the same points."""
    rng = random.Random(seed)
    y = 50.0
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(1, count + 1):
        if i > 1 and interval > 0:
            gevent.sleep(interval)
        y += rng.gauss(0, 1.5) + 0.8 * math.sin(phase + i / 10)
        yield {"i": i, "y": round(y, 3)}
