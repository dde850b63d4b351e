"""A worker's connections past ``worker_connections``: answered at once, never queued.

gunicorn's gevent worker stops accepting when its connection pool is full, and what comes
next waits unanswered in the listen backlog: a client that holds every slot (10,000 slow
streams in under 4 s on defaults) left every other client, and the balancer's health check,
hanging. This worker's pool has a few more slots than ``worker_connections``
(:func:`slots`); a connection that lands in one of them is served here: one request head,
read within :data:`HEAD_TIMEOUT_S`, then

- a health path (:attr:`streamer.worker.Worker.health_paths`) is answered by the app, as on
  any connection, so ``/healthz`` and ``/readyz`` always answer;
- anything else gets a ``503`` JSON refusal with ``Retry-After: 1`` at once,

and the connection closes. Past those slots too, the worker waits as gunicorn does.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import gevent
from gunicorn import http, util

from ..errors import error_body

__all__ = ["HEAD_TIMEOUT_S", "REFUSAL", "serve", "slots"]

log = logging.getLogger("streamer")

#: How long a connection past the limit may take to send its request head.
HEAD_TIMEOUT_S = 1.0

_BODY = json.dumps(
    error_body(
        "too_many_connections",
        "this server is at its connection limit; retry shortly",
    )
).encode()
#: The whole response to a request past the limit.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: %d\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(_BODY)
) + _BODY


def slots(worker_connections: int) -> int:
    """The spare slots past the limit: a tenth of it, at least 32 (each lives about a
    second at most)."""
    return max(32, worker_connections // 10)


def serve(worker: Any, listener: Any, client: Any, addr: Any) -> None:
    """One request on a connection past the limit (see the module's docstring)."""
    req = None
    try:
        client.setblocking(1)  # as GeventWorker.handle
        with gevent.Timeout(HEAD_TIMEOUT_S, False):
            req = next(http.get_parser(worker.cfg, client, addr))
        if req is None:
            return  # no head in time, or none at all
        if req.path in worker.health_paths:
            req.must_close = True  # its slot is a spare one: free it after this answer
            worker.handle_request(listener.getsockname(), req, client, addr)
        else:
            client.sendall(REFUSAL)
    except Exception as exc:  # a malformed head, a reset: nothing more to do for it
        log.debug("connection past the limit: %s", type(exc).__name__)
    finally:
        util.close(client)
