"""``stream()``: the one call a Flask view makes to stream anything.

>>> @app.get("/ticks")
... def ticks():
...     return stream(tick_generator())         # ?format= or Accept picks text/ndjson/sse
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from flask import Response

from .response import stream_for_request


def stream(
    producer: Iterable[Any] | AsyncIterable[Any],
    *,
    format: str | None = None,
    resumable: bool = False,
    headers: dict[str, str] | None = None,
    request_context: bool = True,
) -> Response:
    """A streamed response of ``producer``, in a view of an app set up with
    :class:`streamer.Streamer`.

    ``producer`` is any iterable or generator, or any async iterable / async generator (run
    on the adapter's event loop, :mod:`streamer.adapter`; closed when the client leaves, so
    its ``finally`` runs and the request it awaits is cancelled). It yields payloads (``str``,
    anything JSON-serialisable, a pydantic model, a dataclass, or what the app's
    ``json_default`` takes: :class:`streamer.Streamer`) or records (:class:`~streamer.Data`,
    :class:`~streamer.Ping`, :class:`~streamer.End`, :class:`~streamer.Error`).

    - ``format``: ``"text"``, ``"ndjson"`` or ``"sse"``; by default ``?format=``, then
      ``Accept``, then text.
    - ``resumable``: run the producer detached from the request, into the stream store; the
      response carries ``X-Stream-Id``, and ``GET <prefix>/<id>`` (``Last-Event-ID``) resumes
      it from any worker. A resumable producer outlives its request: it runs in an app
      context of its own (``current_app``, its own ``g``), not in the request's.
    - ``headers``: extra response headers.
    - ``request_context``: keep the request's context alive for the producer (the default,
      like wrapping it in ``flask.stream_with_context``). ``False`` is Flask's own behaviour
      for a plain generator: the app's teardown functions run when the view returns, and the
      producer cannot read ``request``, ``g`` or ``current_app``; a producer that needs none
      of them saves the held request (about 3.6 KiB per open stream, docs/benchmarks.md).

    A failure before the producer's first item is raised here (a JSON error with its status,
    from the extension's handler); after it, in-band as an ``error`` record. A sync producer
    runs with the request's context (``request``, ``g``, ``current_app``), and the app's
    teardown functions run once when the stream ends, however it ends. An async producer runs
    on another thread: read the request in the view and pass values in.
    """
    it = _sync(producer)
    if resumable:
        from .resumable import resumable_response

        return resumable_response(it, fmt=format, headers=headers)
    return stream_for_request(it, headers=headers, fmt=format, request_context=request_context)


def _sync(producer: Iterable[Any] | AsyncIterable[Any]) -> Iterable[Any]:
    if hasattr(producer, "__aiter__") and not hasattr(producer, "__iter__"):
        from ..adapter import iterate_async

        aiterable: AsyncIterable[Any] = producer
        return iterate_async(aiterable.__aiter__)
    return producer  # type: ignore[return-value]
