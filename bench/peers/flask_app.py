"""Peer: a plain Flask generator view (no streamer), served by gunicorn with the gevent worker
or the default sync worker (bench/run.py starts both).

GET /stream?n=N&size=S&interval=MS. ``time.sleep`` is what a plain Flask view would call;
gunicorn's gevent worker monkey-patches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, request

app = Flask(__name__)


def records(n: int, size: int, interval_s: float) -> Iterator[str]:
    payload = "x" * (size - 1) + "\n"
    for i in range(n):
        if i and interval_s:
            time.sleep(interval_s)
        yield payload


@app.get("/stream")
def stream() -> Response:
    q = request.args
    n, size = int(q.get("n", 100)), int(q.get("size", 64))
    interval_s = float(q.get("interval", 0)) / 1000
    return Response(
        records(n, size, interval_s), mimetype="text/plain", headers={"Cache-Control": "no-cache"}
    )
