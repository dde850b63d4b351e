"""The Responses API's stream on the wire: named Server-Sent Events, as OpenAI sends them::

    event: response.output_text.delta
    data: {"type":"response.output_text.delta","sequence_number":5,...,"delta":"You"}

No ``id:`` lines (the ``sequence_number`` is the position: ``GET /v1/responses/<id>?stream=
true&starting_after=N`` resumes after it), no ``retry:`` block, no ``[DONE]``: the body ends
after the terminal event. Heartbeats are the comment line ``: ping`` (as in
:mod:`streamer.llm.openai_chunks`, and for the same reasons).

A failure after the first byte is a terminal event written here from what went out: the
encoder of a stream is made per stream (:func:`encoder_for`) and folds each event it writes
(:class:`~.events.Fold`), so whatever ends the stream (the provider's error, the maximum
duration, a lost producer) becomes ``response.failed`` carrying the response so far, with the
next sequence number, and the body is cut (a broken stream never looks complete); a cancel
becomes ``response.incomplete`` with status ``cancelled`` (OpenAI defines no event for it),
after which the body ends complete: the response did end. An interruption that is not the
response's end (this server restarting, the store unreachable for a moment) is an ``error``
event instead, which takes no number of its own (it is not one of the response's events):
the response goes on, and the client resumes after the last event it received.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ....store import CANCELLED
from ....wire.framing import Encoder, json_bytes
from .fold import Fold

__all__ = ["CANCELLED_MARK", "INTERRUPTIONS", "ResponseSSE", "encoder_for", "terminal_event"]

#: Error types that interrupt one reader, not the response: an ``error`` event, then resume.
INTERRUPTIONS = frozenset({"shutdown", "store_unavailable", "token_expired", "send_timeout"})

#: What a reader of a cancelled response is handed instead of ``error: cancelled``
#: (:func:`streamer.server.resumable.follow`'s ``cancelled``): the encoder writes the cancel
#: as the response's last event and the body ends complete, as for any other end.
CANCELLED_MARK = {"type": "streamer.cancelled"}


class ResponseSSE(Encoder):
    """Named SSE for Responses API events; use a class of a stream's own (:func:`encoder_for`)."""

    name = "openai-responses"
    media_type = "text/event-stream; charset=utf-8"
    fold: ClassVar[Fold]

    @classmethod
    def data(cls, id: int, payload: Any) -> bytes:
        if payload == CANCELLED_MARK:
            return cls.error(CANCELLED.type, CANCELLED.message)
        if isinstance(payload, dict):
            cls.fold.add(payload)
            kind = str(payload.get("type", "message"))
        else:  # not an event of ours: never written by this API's producers
            kind = "message"
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), json_bytes(payload))

    @classmethod
    def event(cls, id: int, name: str, payload: Any) -> bytes:
        return cls.data(id, payload)

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        return b""  # the terminal event was the last data record

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        event = terminal_event(cls.fold, type, message)
        return b"event: %s\ndata: %s\n\n" % (event["type"].encode(), json_bytes(event))

    @classmethod
    def ping(cls) -> bytes:
        return b": ping\n"


def terminal_event(fold: Fold, type: str, message: str) -> dict[str, Any]:
    """The event for a stream that ended with error ``type`` after the events in ``fold``
    (which it is added to)."""
    seq = fold.last + 1
    if type in INTERRUPTIONS:
        # Not an event of the response (the store never holds it), so it takes no number of
        # its own: it repeats the last one framed. That may be past what was sent (a
        # shutdown drops the records still buffered): a client resumes after the last
        # response event it received.
        event: dict[str, Any] = {"type": "error", "sequence_number": max(0, fold.last),
                                 "code": type, "message": message, "param": None}  # fmt: skip
        return event
    if type == CANCELLED.type:
        response = fold.ended("cancelled", type, message)
        event = {"type": "response.incomplete", "sequence_number": seq, "response": response}
    else:
        response = fold.ended("failed", type, message)
        event = {"type": "response.failed", "sequence_number": seq, "response": response}
    fold.add(event)
    return event


def encoder_for(fold: Fold | None = None) -> type[ResponseSSE]:
    """A :class:`ResponseSSE` of one stream's own, folding into ``fold`` (a resume passes the
    fold of the events before it).

    A class, not an instance: the engine takes an encoder class and calls its classmethods
    (:class:`~streamer.wire.framing.Encoder`). One class per stream costs about 2.3 KiB, its
    fold included (tracemalloc, CPython 3.11), freed by the cyclic collector (a class refers
    to itself through its ``__mro__``): small next to the answer it frames."""
    return type("ResponseSSE", (ResponseSSE,), {"fold": fold if fold is not None else Fold()})
