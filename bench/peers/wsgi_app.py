"""Peer: a bare WSGI generator app (no Flask, no streamer) on gunicorn's gevent worker.

The floor of the stack streamer runs on: whatever this costs per request, per record and per
stream, gunicorn's gevent worker costs before any framework (bench/ANALYSIS.md, M3 and M4).
GET /stream?n=N&size=S&interval=MS, the same shape as the other peers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(q.get("n", ["100"])[0])
    size = int(q.get("size", ["64"])[0])
    interval_s = float(q.get("interval", ["0"])[0]) / 1000
    payload = b"x" * (size - 1) + b"\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "no-cache")])

    def records() -> Iterator[bytes]:
        for i in range(n):
            if i and interval_s:
                time.sleep(interval_s)  # monkey-patched by the gevent worker
            yield payload

    return records()
