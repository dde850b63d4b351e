"""The wire formats of LLM answers, for any view: ``stream(events(), format="openai")`` or
``format="ui-message"``.

A format here is a *transform* (a generator that turns the producer's
:mod:`~streamer.llm.events` into the format's payloads, holding the answer's state: its id,
which parts are open, the tool calls' indexes) and a stateless *encoder*
(:class:`~streamer.wire.framing.Encoder`), so the engine frames, pings, ends and errs as it
does for the plain formats. The server resolves the two names on first use
(:data:`streamer.server.streaming.NAMED_FORMATS`); :func:`openai` and :func:`ui_message`
make one with options, passed as ``format=``.

Both pass anything that is not an answer event through as it is: an OpenAI SDK
``ChatCompletionChunk`` (or a dict with ``"object": "chat.completion.chunk"``) relayed from
an upstream, a UI message part dict (``{"type": "data-weather", "data": ...}``), a
:class:`~streamer.Event` (a ``data-<name>`` part in ``ui-message``), a :class:`~streamer.Ping`.
An async producer is bridged to a sync one first (:mod:`streamer.adapter`, the one place that
converts), so each transform is a plain generator. Nothing is sent before the producer's
first item: a failure before it is still an HTTP status.

``openai`` (OpenAI's ``chat.completion.chunk`` stream, :mod:`streamer.llm.openai_chunks`):

- the first chunk is the role chunk (``{"role": "assistant", "content": "", "refusal":
  null}``), then one chunk per delta: ``content``, ``reasoning_content`` (the field
  OpenAI-compatible servers use for reasoning; OpenAI's own API sends none), ``refusal``,
  ``tool_calls`` (the call's ``index``, ``id``, ``type`` and ``function.name`` on its first
  fragment, then ``function.arguments`` fragments);
- ``Finish`` is a chunk with an empty delta and its ``finish_reason``; ``Usage`` a last chunk
  with ``choices: []`` after it (as OpenAI sends it with ``include_usage``); then
  ``data: [DONE]``. An error after the first chunk is ``data: {"error": {...}}`` and no
  ``[DONE]``: both SDKs raise ``APIError``;
- ``ToolResult`` has no place in a chat completion (the client runs its tools) and is not
  sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..wire.framing import Encoder
from .events import (
    Finish,
    ReasoningDelta,
    Refusal,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResult,
    Usage,
)
from .openai_chunks import Answer, ChunkSSE
from .ui_message import UI_MESSAGE, UIMessageFormat, ui_message

__all__ = ["OPENAI", "UI_MESSAGE", "OpenAIFormat", "UIMessageFormat", "openai", "ui_message"]

_ROLE = {"role": "assistant", "content": "", "refusal": None}


@dataclass(frozen=True, eq=False)
class OpenAIFormat:
    """``format="openai"`` with its options: see :func:`openai`."""

    model: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    encoder: ClassVar[type[Encoder]] = ChunkSSE
    cancelled: ClassVar[Any] = None  # a cancelled chunk stream is an error: OpenAI has no stop

    def transform(self, items: Iterable[Any]) -> Iterator[Any]:
        return openai_chunks(items, Answer(self.model))


def openai(model: str = "") -> OpenAIFormat:
    """OpenAI's chunk stream with ``model`` in every chunk (the SDKs read it as
    ``chunk.model``).

    >>> @app.post("/chat")
    ... def chat():
    ...     return stream(answer(request.json), format=openai(model="gpt-4o-mini"))
    """
    return OpenAIFormat(model)


OPENAI = OpenAIFormat()


def openai_chunks(items: Iterable[Any], answer: Answer) -> Iterator[Any]:
    """The chunk dicts of an answer's events (anything else passes as it is)."""
    source = iter(items)
    started = finished = False
    usage: Usage | None = None
    index: dict[str, int] = {}  # a tool call's index, by id
    sent_arguments: set[str] = set()  # the calls that streamed their arguments
    try:
        for item in source:
            kind = type(item)
            if kind is TextDelta:
                delta: dict[str, Any] = {"content": item.text}
            elif kind is ToolCallDelta:
                sent_arguments.add(item.id)
                call = {"index": index.get(item.id, 0), "function": {"arguments": item.arguments}}
                delta = {"tool_calls": [call]}
            elif kind is ReasoningDelta:
                delta = {"reasoning_content": item.text}
            elif kind is Refusal:
                delta = {"refusal": item.text}
            elif kind is ToolCallStart:
                index[item.id] = item.index
                delta = {"tool_calls": [_call_start(item.index, item.id, item.name, "")]}
            elif kind is ToolCallEnd:
                # A provider that sends a call whole (no deltas) is sent whole here.
                if item.id not in index:
                    index[item.id] = len(index)
                    call = _call_start(index[item.id], item.id, item.name, item.arguments)
                elif item.id not in sent_arguments and item.arguments:
                    call = {"index": index[item.id], "function": {"arguments": item.arguments}}
                else:
                    continue
                delta = {"tool_calls": [call]}
            elif kind is Usage:
                if finished:
                    yield answer.usage_chunk(item.as_openai())
                else:
                    usage = item
                continue
            elif kind is Finish:
                if not started:
                    started = True
                    yield answer.chunk(_ROLE)
                finished = True
                yield answer.chunk({}, item.reason)
                if usage is not None:
                    yield answer.usage_chunk(usage.as_openai())
                    usage = None
                continue
            elif kind is ToolResult:
                continue
            else:
                yield item  # a relayed SDK chunk, a record: as it is
                continue
            if not started:
                started = True
                yield answer.chunk(_ROLE)
            yield answer.chunk(delta)
        if started and not finished:  # an answer without its Finish still ends as one
            yield answer.chunk({}, "stop")
        if usage is not None:
            yield answer.usage_chunk(usage.as_openai())
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # at once: this is what cancels the upstream request


def _call_start(index: int, id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
