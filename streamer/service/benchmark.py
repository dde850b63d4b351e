"""The benchmark endpoint, mounted only when ``STREAMER_BENCH=1`` (see ``bench/run.py``).

``GET /stream/bench?n=N&size=S&interval=MS`` streams ``n`` records of ``size`` bytes of text,
``interval`` milliseconds apart (the first at once): the same shape as the peers' ``/stream``
in ``bench/peers/``, so that the service is measured through its real path (gunicorn, the
gevent worker, :func:`streamer.server.response.stream_for_request`). Text by default; ``?format=``
and ``Accept`` choose the format as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
from flask import Blueprint, Response, request

from ..server.response import stream_for_request
from .params import float_param, int_param

bp = Blueprint("benchmark", __name__)

MAX_N = 10_000_000
MAX_SIZE = 1 << 20


def records(n: int, size: int, interval_s: float) -> Iterator[str]:
    """``n`` payloads of ``size`` bytes (ending in a newline), ``interval_s`` apart."""
    payload = "x" * (size - 1) + "\n" if size else ""
    for i in range(n):
        if i and interval_s:
            gevent.sleep(interval_s)
        yield payload


@bp.get("/stream/bench")
def stream_bench() -> Response:
    args = request.args
    n = int_param(args, "n", 100, 0, MAX_N)
    size = int_param(args, "size", 64, 1, MAX_SIZE)
    interval_ms = float_param(args, "interval", 0.0, 0.0, 60_000.0)
    # The producer reads nothing of the request: like the plain Flask peer's generator, it
    # runs without the held request context (stream(request_context=False)).
    return stream_for_request(records(n, size, interval_ms / 1000), request_context=False)
