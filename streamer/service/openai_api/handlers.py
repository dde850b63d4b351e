"""What the ``/v1`` blueprints (chat completions, the Responses API) share as views: errors
answered in OpenAI's shape, a whole answer collected in the request while the client's
socket is watched, and a streamed answer whose usage is reported with its outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import gevent
import orjson
from flask import Blueprint, Response, jsonify, request
from gevent import GreenletExit
from werkzeug.exceptions import HTTPException

from ...engine.disconnect import DisconnectWatcher
from ...errors import StreamerError, StreamTimeout
from ...server.response import stream_for_request
from ...server.state import current_config
from ...wire.framing import Encoder
from .errors import error_object
from .usage import UsageMeter

_T = TypeVar("_T")


def error_response(
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    response = jsonify({"error": error_object(code, message, status, param)})
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


def openai_errors(bp: Blueprint) -> None:
    """Answer ``bp``'s errors (streamer's own, Werkzeug's) in OpenAI's shape."""

    @bp.errorhandler(StreamerError)
    def _streamer_error(exc: StreamerError) -> Response:
        headers = []
        if exc.retry_after is not None:
            headers.append(("Retry-After", str(max(1, round(exc.retry_after)))))
        return error_response(
            exc.status, exc.type, exc.message, getattr(exc, "param", None), headers
        )

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        name = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, name, exc.description or name)


class _ClientGone(GreenletExit):  # type: ignore[misc]  # gevent is untyped here
    """Thrown into the view while it collects an answer: the client left. A GreenletExit,
    so the provider closes its upstream request as for a closed stream."""


def collect_watched(
    collect: Callable[[], _T],
    source: Iterator[Any],
    what: str = "answer",
    on_end: Callable[[str], None] | None = None,
) -> _T:
    """``collect()`` (which reads ``source``, a provider's answer) in the request, within the
    maximum duration; ``source`` is closed at the end, however it ends, and ``on_end`` told
    the outcome (``complete``, ``disconnect``, ``timeout``, ``error``). The client's socket is
    watched meanwhile: a client that leaves (the SDK's timeout) cancels the upstream at once
    (then a 499, which nobody reads, for the access log)."""
    config = current_config()
    view = gevent.getcurrent()
    collecting = True

    def throw_in() -> None:  # in the hub; only while the view is still collecting
        if collecting and not view.dead:
            view.throw(_ClientGone)

    sock = request.environ.get("gunicorn.socket")
    watcher = (
        DisconnectWatcher(sock, lambda: gevent.get_hub().loop.run_callback(throw_in))
        if sock is not None
        else None
    )
    outcome = "error"
    timeout = StreamTimeout(
        f"the {what} exceeded the maximum duration of {config.max_stream_s:g} s"
    )
    try:
        with gevent.Timeout(config.max_stream_s, timeout):
            whole = collect()
        outcome = "complete"
        return whole
    except _ClientGone:
        outcome = "disconnect"
        raise StreamerError(
            "the client closed the request", type="client_closed_request", status=499
        ) from None
    except StreamTimeout:
        outcome = "timeout"
        raise
    finally:
        collecting = False
        if watcher is not None:
            watcher.stop()
        close = getattr(source, "close", None)
        if close is not None:
            close()
        if on_end is not None:
            on_end(outcome)


def relayed_whole(
    batches: Iterator[list[str]],
    meter: UsageMeter,
    usage_of: Callable[[Any], dict[str, Any] | None],
) -> Response:
    """A whole (``stream: false``) relayed answer: the upstream's JSON text as sent, read in
    the request (:func:`collect_watched`, which reports the outcome), with the usage that
    ``usage_of`` finds in its ``usage``. The usage is taken inside the collection, since the
    report is made as the collection ends."""

    def collect() -> str:
        text = "".join(data for batch in batches for data in batch)
        try:
            whole = orjson.loads(text)
        except orjson.JSONDecodeError:
            whole = None
        usage = usage_of(whole.get("usage")) if isinstance(whole, dict) else None
        if usage is not None:
            meter.provider_usage(usage)
        return text

    return Response(
        collect_watched(collect, batches, on_end=meter.finish), mimetype="application/json"
    )


def metered_stream(producer: Iterator[Any], meter: UsageMeter, encoder: type[Encoder]) -> Response:
    """``producer`` streamed with ``encoder``; ``meter`` reports the usage when the body is
    closed, with the stream's outcome (or ``error`` if it failed before its first byte)."""
    try:
        response = stream_for_request(producer, encoder=encoder)
    except BaseException:
        meter.finish("error")
        raise
    response.response = _Reporting(response.response, meter)
    return response


class _Reporting:
    """The stream's WSGI body; ``close()`` also reports the usage with the stream's outcome
    (the body's stats are final once it is closed)."""

    def __init__(self, inner: Any, meter: UsageMeter) -> None:
        self._inner, self._meter = inner, meter

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._meter.finish(self._inner.stats.outcome)
