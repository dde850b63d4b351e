"""Turn any producer (a generator, any iterable) into a streamed Flask response.

The contract this module keeps (docs/design.md, "The wire contract"):

1. The status is chosen after the producer has had its chance to fail on open: the view waits
   (up to one heartbeat interval) for the first item. A failure before the first byte is raised
   from :func:`stream_response` so the app turns it into a real HTTP status with a JSON body.
2. ``end`` is written only on success. A failure after the first byte writes an ``error``
   record (ndjson, sse) and then ends the connection without the chunked terminator, so no
   HTTP client can mistake a broken stream for a complete one (text too).
3. Nothing is buffered on the way: anti-buffering headers, no Content-Length, and each record
   goes out as soon as it exists. Records that are ready together go out in one write
   (coalescing), which is what makes a fast producer cheap; a slow producer's record is never
   held back waiting for company.
4. After ``heartbeat_s`` of silence, ``ping`` (ndjson, sse).
5. A client that leaves stops the work at once: :mod:`streamer.engine.disconnect` watches the
   socket, and the producer's greenlet is killed, so its ``finally`` runs even while it idles.

How: :mod:`streamer.engine` (the body, its two strategies, its watchers, its states).
What a producer may yield: :mod:`streamer.engine.producer`. This module is what views call: it picks
the format, checks the limits, builds the body, waits for the first item and answers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, request

from ..config import Config
from ..engine import StreamAborted, StreamBody, StreamStats
from ..engine.core import MAX_BATCH_S, MAX_BUFFER
from ..engine.registry import StreamRegistry
from ..engine.request_context import Hold, hold_request
from ..errors import Unavailable
from ..wire.framing import FORMATS, Encoder
from ..wire.http1 import NODELAY_ENVIRON
from ..wire.negotiate import choose_request_format
from .state import current_state

__all__ = [
    "MAX_BATCH_S",
    "MAX_BUFFER",
    "STREAM_HEADERS",
    "StreamAborted",
    "StreamBody",
    "StreamStats",
    "stream_for_request",
    "stream_response",
]

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer this response
    "X-Content-Type-Options": "nosniff",  # browsers: do not hold bytes back to sniff
}


_STREAM_HEADER_LIST = list(STREAM_HEADERS.items())


def stream_for_request(
    producer: Iterable[Any],
    *,
    first_id: int = 1,
    headers: dict[str, str] | None = None,
    fmt: str | None = None,
    encoder: type[Encoder] | None = None,
    request_context: bool = True,
) -> Response:
    """In a Flask view: :func:`stream_response` with the format the request asks for (or
    ``fmt``, or ``encoder`` for an API with a wire format of its own), the app's config, its
    registry of open streams (limit, graceful shutdown), and its observers (access log,
    metrics). The request's context stays alive for the producer and is torn down once when
    the stream ends (streamer.engine.request_context), unless ``request_context`` is false: then
    Flask tears it down when the view returns, as for any plain generator. Most views call
    :func:`streamer.stream` instead, which also takes async iterables.

    >>> @app.get("/numbers")
    ... def numbers():
    ...     return stream_for_request(range(10))
    """
    state = current_state()
    # The request itself, not its proxy: each attribute read through ``flask.request`` is a
    # context-variable lookup and three Python calls.
    req = request._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy
    if encoder is not None:
        fmt = encoder.name
    elif fmt is None:
        fmt = choose_request_format(req)
    elif fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if encoder is None:
        encoder = state.formats[fmt]  # the app's json_default, if it set one
    config = state.config
    registry = state.registry
    if registry.shutting_down:
        raise Unavailable("the server is restarting; retry", type="shutdown", retry_after=1)
    if len(registry) >= config.max_streams:
        raise Unavailable(
            "too many open streams on this server; retry shortly",
            type="too_many_streams",
            retry_after=1,
        )
    rule = req.url_rule
    route = rule.rule if rule is not None else req.path
    observers = state.observers
    for observer in observers:
        observer.started(route, fmt)

    def on_finish(stats: StreamStats) -> None:
        for observer in observers:
            observer.finished(route, stats)

    hold = hold_request() if request_context else None
    try:
        return stream_response(
            producer,
            fmt=fmt,
            config=config,
            environ=req.environ,
            first_id=first_id,
            headers=headers,
            on_finish=on_finish,
            registry=registry,
            hold=hold,
            encoder=encoder,
        )
    except BaseException:
        if hold is not None:
            hold.release()  # if the body did not already: the view's own teardown runs
        raise


def stream_response(
    producer: Iterable[Any],
    *,
    fmt: str,
    config: Config,
    environ: dict[str, Any] | None = None,
    first_id: int = 1,
    headers: dict[str, str] | None = None,
    on_finish: Callable[[StreamStats], None] | None = None,
    registry: StreamRegistry | None = None,
    hold: Hold | None = None,
    encoder: type[Encoder] | None = None,
) -> Response:
    """A streamed response of ``producer`` in format ``fmt`` (or with ``encoder``, which
    then wins: a wire format that is not one of :data:`~streamer.wire.framing.FORMATS`).

    Raises the producer's error if it fails before its first item (the app maps it to a
    status and a JSON body). ``environ`` is the WSGI environ: with gunicorn it gives the client
    socket, which turns on prompt disconnect detection and clean aborts.

    >>> def view():
    ...     return stream_response((f"chunk {i}\\n" for i in range(3)), fmt="text",
    ...                            config=Config(), environ=request.environ)
    """
    if encoder is None:
        encoder = FORMATS[fmt]
    env = environ or {}
    sock = env.get("gunicorn.socket")
    if sock is not None and not env.get(NODELAY_ENVIRON):
        try:
            # Small records must not wait for an ACK (Nagle); gunicorn sets this on the
            # listener, set it here too so it holds whatever accepted the socket (streamer's
            # worker says when the listener had it).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    body = StreamBody(
        producer,
        encoder,
        heartbeat_s=config.heartbeat_s,
        max_stream_s=config.max_stream_s,
        retry_ms=config.retry_ms,
        sock=sock,
        first_id=first_id,
        on_finish=on_finish,
        registry=registry,
        chunked=env.get("SERVER_PROTOCOL") == "HTTP/1.1" and env.get("REQUEST_METHOD") != "HEAD",
        send_timeout_s=config.send_timeout_s,
        hold=hold,
    )
    body.wait_first(config.heartbeat_s)
    # Headers as a list: Headers.update() searches for each name to replace it.
    response = Response(
        body,
        status=200,
        headers=_STREAM_HEADER_LIST,
        mimetype=None,
        content_type=encoder.media_type,
        direct_passthrough=True,
    )
    if headers:
        response.headers.update(headers)
    return response
