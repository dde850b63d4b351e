"""The LLM layer: chat providers that stream an answer into a streamer stream.

A provider has ``name`` and ``stream(request) -> Iterator[AnswerEvent]``: the answer's
:mod:`~streamer.llm.events` (deltas, then ``Usage`` when known, then one ``Finish``), so one
provider feeds any wire format: ``stream(provider.stream(request), format="openai")``. A
failure raises a :class:`~streamer.errors.StreamerError`; closing the iterator (the client
left) cancels the upstream request.

- :mod:`streamer.llm.events`: the events of one answer (text, reasoning, tool calls, usage,
  finish), what an LLM producer yields;
- :mod:`streamer.llm.openai_events`: the OpenAI SDK's streams (chat completions' chunks, the
  Responses API's events; sync and async) as those events: ``achat_events(chunks)``;
- :mod:`streamer.llm.formats`: ``stream(events, format="openai")`` / ``"ui-message"``
  (OpenAI's chunks, :mod:`streamer.llm.openai_chunks`; the AI SDK's UI message stream,
  :mod:`streamer.llm.ui_message`);
- :class:`ChatProvider`, :class:`ChatRequest`: the protocol and what it is asked;
- :mod:`streamer.llm.openai_provider`: the OpenAI SDK's ``AsyncOpenAI`` (any
  OpenAI-compatible server), bridged by :mod:`streamer.adapter` (``pip install
  "streamer[openai]"``; imported on first use).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from .events import AnswerEvent
from .request import ChatRequest

__all__ = ["ChatProvider", "ChatRequest"]


class ChatProvider(Protocol):
    """Streams the assistant's answer to a :class:`ChatRequest` as answer events.

    What ``stream(request)`` yields, in order: the deltas (``TextDelta``, ``ReasoningDelta``,
    ``Refusal``, ``ToolCallStart``/``ToolCallDelta``/``ToolCallEnd``) as the model produces
    them; ``Usage`` when the provider knows it; exactly one ``Finish(reason)``, last. A failure
    raises a :class:`~streamer.errors.StreamerError` (its type and message reach the client:
    before the first event as an HTTP status, after it in-band) instead of finishing. Closing
    the iterator before its end (the client left) cancels the upstream request at once, not
    at its next token.
    """

    name: str

    def stream(self, request: ChatRequest) -> Iterator[AnswerEvent]: ...
