"""``stream()``: the one call a Flask view makes to stream anything.

>>> @app.get("/ticks")
... def ticks():
...     return stream(tick_generator())         # ?format= or Accept picks text/ndjson/sse

A format may also build its own payloads (:class:`PayloadFormat`): the LLM layer's
``"openai"`` and ``"ui-message"`` turn a producer's answer events (:mod:`streamer.llm.events`)
into OpenAI's chunks or the AI SDK's UI message parts. The server cannot import the LLM
layer (it comes after it, tests/unit/test_layout.py), so those names are resolved here on
first use, through :data:`NAMED_FORMATS`, as :mod:`streamer.errors` resolves ``_ELSEWHERE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator, Mapping
from importlib import import_module
from typing import Any, Protocol

from flask import Response

from ..wire.framing import FORMATS, Encoder
from .response import stream_for_request
from .state import current_state

#: Formats of a later layer, by name: ``module:attribute`` of a :class:`PayloadFormat`,
#: imported the first time a view asks for one.
NAMED_FORMATS = {
    "openai": "streamer.llm.formats:OPENAI",
    "ui-message": "streamer.llm.formats:UI_MESSAGE",
}


class PayloadFormat(Protocol):
    """A wire format that makes its own payloads: ``transform`` turns what the producer yields
    into them, holding the stream's state (a generator per stream), and ``encoder`` frames
    them, stateless like the plain formats' encoders. ``headers`` go on the response."""

    @property
    def encoder(self) -> type[Encoder]: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def cancelled(self) -> Any:
        """The payload a cancelled resumable stream ends with, then a clean end, instead of
        the in-band ``cancelled`` error (None: the error): a stopped answer is not a failed
        one."""

    def transform(self, items: Iterable[Any]) -> Iterator[Any]: ...


def stream(
    producer: Iterable[Any] | AsyncIterable[Any],
    *,
    format: str | PayloadFormat | None = None,
    resumable: bool = False,
    name: str | None = None,
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
      ``Accept``, then text. For an LLM answer (a producer of :mod:`streamer.llm.events`):
      ``"openai"`` (OpenAI's chat completion chunks) or ``"ui-message"`` (the AI SDK's UI
      message stream), or a :class:`PayloadFormat` such as
      ``streamer.llm.formats.openai(model="gpt-4o")``.
    - ``resumable``: run the producer detached from the request, into the stream store; the
      response carries ``X-Stream-Id``, and ``GET <prefix>/<id>`` (``Last-Event-ID``) resumes
      it from any worker. A resumable producer outlives its request: it runs in an app
      context of its own (``current_app``, its own ``g``), not in the request's. With a
      payload format, the store keeps its payloads (the transform runs before the store),
      so a replay from the start rebuilds the whole answer.
    - ``name``: with ``resumable``, a name the app finds the stream by later, from any
      worker (the store's :meth:`~streamer.store.StreamStore.name_stream`), such as a chat
      id: :func:`streamer.llm.chat_streams.resume_chat`.
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
    if format is not None and (format.__class__ is not str or format not in FORMATS):
        payloads = _payload_format(format)
        own = dict(payloads.headers)
        if headers:
            own.update(headers)
        encoder = current_state().encoder_for(payloads.encoder)
        if resumable:
            from .resumable import resumable_response

            return resumable_response(
                payloads.transform(it),
                headers=own,
                encoder=encoder,
                name=name,
                cancelled=payloads.cancelled,
            )
        return stream_for_request(
            payloads.transform(it),
            headers=own,
            encoder=encoder,
            request_context=request_context,
        )
    if resumable:
        from .resumable import resumable_response

        return resumable_response(it, fmt=format, headers=headers, name=name)
    return stream_for_request(it, headers=headers, fmt=format, request_context=request_context)


def _payload_format(format: str | PayloadFormat) -> PayloadFormat:
    if not isinstance(format, str):
        return format
    where = NAMED_FORMATS.get(format)
    if where is None:
        names = ", ".join([*FORMATS, *NAMED_FORMATS])
        raise ValueError(f"format must be one of {names}, got {format!r}")
    module, _, name = where.partition(":")
    found: PayloadFormat = getattr(import_module(module), name)
    return found


def _sync(producer: Iterable[Any] | AsyncIterable[Any]) -> Iterable[Any]:
    if hasattr(producer, "__aiter__") and not hasattr(producer, "__iter__"):
        from ..adapter import iterate_async

        aiterable: AsyncIterable[Any] = producer
        return iterate_async(aiterable.__aiter__)
    return producer  # type: ignore[return-value]
