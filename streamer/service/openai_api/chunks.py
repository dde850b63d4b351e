"""The demo's /v1 chunk producer: a provider's answer events as OpenAI chunk objects, counted
into the usage meter. The chunk objects, their encoders and the events-to-chunks transform
are the library's (:mod:`streamer.llm.openai_chunks`, :func:`streamer.llm.formats.openai_chunks`),
re-exported here for the views.

The usage chunk is the meter's, not the provider's event: with ``include_usage`` a client
gets one even from a provider that knows no usage (the streamed tokens, counted), and always
after the finish chunk, as OpenAI sends it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

from gevent import GreenletExit

from ...errors import StreamTimeout
from ...llm.events import (
    AnswerEvent,
    Finish,
    Refusal,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from ...llm.formats import openai_chunks
from ...llm.openai_chunks import Answer, ChunkSSE, ResumableChunkSSE, completion_id
from .usage import UsageMeter

__all__ = [
    "Answer",
    "ChunkSSE",
    "Collected",
    "ResumableChunkSSE",
    "chunks",
    "collected",
    "completion_id",
    "metered",
    "reported",
]


def chunks(
    events: Iterator[AnswerEvent],
    answer: Answer,
    meter: UsageMeter,
    *,
    detached: bool = False,
) -> Generator[dict[str, Any], None, dict[str, Any]]:
    """The chunk objects of a provider's answer (see :class:`streamer.llm.ChatProvider`),
    counting it into ``meter``.

    The role chunk goes out with the first delta, not before: until then a failure (the
    upstream's 401, 429) can still be a real HTTP status. ``detached``: see :func:`reported`.
    """
    return reported(_chunks(events, answer, meter), events, meter, detached)


def _chunks(events: Iterator[AnswerEvent], answer: Answer, meter: UsageMeter) -> Iterator[Any]:
    yield from openai_chunks(metered(events, meter), answer)
    if answer.include_usage:
        yield answer.usage_chunk(meter.usage())


def reported(
    records: Iterator[Any], source: Iterator[Any], meter: UsageMeter, detached: bool
) -> Generator[Any, None, dict[str, Any]]:
    """``records`` (made from ``source``, a provider's answer), closing ``source`` at the end,
    however it ends: that is what cancels the upstream request. ``detached`` (a resumable
    answer, which has no response of its own): report the usage when this generator ends,
    with the outcome it saw; otherwise the view reports it with the response's outcome."""
    outcome = "error"
    try:
        yield from records
        outcome = "complete"
        return {}
    except (GeneratorExit, GreenletExit):
        outcome = "cancel"
        raise
    except StreamTimeout:
        outcome = "timeout"
        raise
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # at once
        if detached:
            meter.finish(outcome)


class Meter(Protocol):
    """What :func:`metered` counts into: a :class:`.usage.UsageMeter`, or a plain tally."""

    def token(self) -> None: ...

    def provider_usage(self, usage: dict[str, Any]) -> None: ...


def metered(events: Iterable[AnswerEvent], meter: Meter) -> Iterator[AnswerEvent]:
    """The events, each ``TextDelta`` counted into ``meter``; ``Usage`` is kept by the meter
    and not passed on (the caller sends the meter's)."""
    token = meter.token
    for event in events:
        if type(event) is TextDelta:  # the common case, checked first
            token()
        elif type(event) is Usage:
            meter.provider_usage(event.as_openai())
            continue
        yield event


def collected(events: Iterable[AnswerEvent], meter: Meter) -> Collected:
    """A whole answer (``stream: false``): its text, its refusal (None if it has none), its
    tool calls (OpenAI's ``message.tool_calls`` objects) and its finish reason, counted into
    ``meter``."""
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[str, dict[str, Any]] = {}  # by id, in the order they started
    reason = "stop"
    for event in metered(events, meter):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Refusal):
            refusal.append(event.text)
        elif isinstance(event, ToolCallStart):
            calls[event.id] = _call(event.id, event.name, "")
        elif isinstance(event, ToolCallDelta) and event.id in calls:
            calls[event.id]["function"]["arguments"] += event.arguments
        elif isinstance(event, ToolCallEnd):
            calls[event.id] = _call(event.id, event.name, event.arguments)  # the whole call
        elif isinstance(event, Finish):
            reason = event.reason
    return Collected(
        "".join(text), "".join(refusal) if refusal else None, reason, list(calls.values())
    )


class Collected(NamedTuple):
    text: str
    refusal: str | None
    reason: str
    tool_calls: list[dict[str, Any]]


def _call(id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}
