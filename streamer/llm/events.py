"""The events of one LLM answer, as a producer yields them: provider-neutral, in the order
the model produced them.

An answer is a sequence of deltas, then exactly one :class:`Finish`; :class:`Usage` comes
before it when the upstream reports it (a provider that knows no usage sends none). A failed
answer raises instead of finishing (a :class:`~streamer.errors.StreamerError`, so its type
and message reach the client in-band), after the events it had produced.

=======================  ===============================================================
event                    meaning
=======================  ===============================================================
``TextDelta(text)``      a piece of the answer's text
``ReasoningDelta(text)`` a piece of the model's reasoning (summary), shown apart
``Refusal(text)``        a piece of a refusal (OpenAI's ``refusal`` delta)
``ToolCallStart``        a tool call begins: its ``id``, the tool's ``name``, its ``index``
``ToolCallDelta``        a fragment of the call's JSON ``arguments``
``ToolCallEnd``          the call's arguments are complete (``arguments``: all of them)
``ToolResult``           what the app's tool returned for call ``id`` (the app yields it)
``Usage``                token counts: ``prompt_tokens``, ``completion_tokens``, extras
``Finish(reason)``       the answer is complete: ``stop``, ``length``, ``tool_calls``,
                         ``content_filter`` (OpenAI's reasons; others pass as they are)
=======================  ===============================================================

Each has a ``type`` (``"text-delta"``, ...), so in a plain format (ndjson, sse) an event is
one JSON object that names itself:

>>> from streamer.wire.framing import json_bytes
>>> json_bytes(TextDelta("Hi"))
b'{"type":"text-delta","text":"Hi"}'

The formats that clients of LLM APIs read (OpenAI's chunks, the AI SDK's UI message stream)
are built from these in :mod:`streamer.llm.formats`; adapters from the OpenAI SDK's streams
are in :mod:`streamer.llm.openai_events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "AnswerEvent",
    "Finish",
    "ReasoningDelta",
    "Refusal",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolResult",
    "Usage",
]


_T = TypeVar("_T")


def _text_init(cls: type[_T]) -> type[_T]:
    """``__init__(self, text)`` for a frozen text event, by the slots' own setters: the one a
    frozen dataclass generates calls ``object.__setattr__`` per field, 290 ns a call on
    CPython 3.11 where this takes 175, and a streamed answer makes one per token. The event
    stays as frozen as before (its ``__setattr__`` still refuses)."""
    kind = cls.__dataclass_fields__["type"].default  # type: ignore[attr-defined]
    set_type = cls.__dict__["type"].__set__
    set_text = cls.__dict__["text"].__set__

    def __init__(self: _T, text: str) -> None:
        set_type(self, kind)
        set_text(self, text)

    cls.__init__ = __init__  # type: ignore[method-assign,assignment]
    return cls


@_text_init
@dataclass(frozen=True, slots=True)
class TextDelta:
    type: str = field(default="text-delta", init=False, repr=False)
    text: str


@_text_init
@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    type: str = field(default="reasoning-delta", init=False, repr=False)
    text: str


@_text_init
@dataclass(frozen=True, slots=True)
class Refusal:
    type: str = field(default="refusal", init=False, repr=False)
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    type: str = field(default="tool-call-start", init=False, repr=False)
    id: str
    name: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    type: str = field(default="tool-call-delta", init=False, repr=False)
    id: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    type: str = field(default="tool-call-end", init=False, repr=False)
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    type: str = field(default="tool-result", init=False, repr=False)
    id: str
    output: Any


@dataclass(frozen=True, slots=True)
class Usage:
    type: str = field(default="usage", init=False, repr=False)
    prompt_tokens: int
    completion_tokens: int
    #: Anything else the upstream counted (``prompt_tokens_details``, ...), as it sent it.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, Any]:
        """OpenAI's ``usage`` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Finish:
    type: str = field(default="finish", init=False, repr=False)
    reason: str = "stop"


AnswerEvent = (
    TextDelta
    | ReasoningDelta
    | Refusal
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | ToolResult
    | Usage
    | Finish
)
