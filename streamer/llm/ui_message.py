"""``format="ui-message"``: the Vercel AI SDK's UI message stream, protocol v1, what
``useChat`` (``DefaultChatTransport``) and ``readUIMessageStream`` read.

Read from ``ai`` 6.0.333 (``uiMessageChunkSchema``, ``processUIMessageStream`` and
``AbstractChat`` in ``dist/index.mjs``; pinned by tests/node's lockfile and checked by
tests/real/test_ui_message_node.py). The response has ``x-vercel-ai-ui-message-stream: v1``
and ``content-type: text/event-stream``; each part is one ``data: {json}`` event, and a
complete answer ends with ``data: [DONE]``::

    {"type":"start","messageId":"msg-..."}
    {"type":"start-step"}
    {"type":"text-start","id":"text-1"}
    {"type":"text-delta","id":"text-1","delta":"Hel"}      (one per TextDelta)
    {"type":"text-end","id":"text-1"}
    {"type":"tool-input-start","toolCallId":"call_1","toolName":"weather"}
    {"type":"tool-input-delta","toolCallId":"call_1","inputTextDelta":"{\\"city\\""}
    {"type":"tool-input-available","toolCallId":"call_1","toolName":"weather","input":{...}}
    {"type":"tool-output-available","toolCallId":"call_1","output":{...}}   (ToolResult)
    {"type":"finish-step"}
    {"type":"start-step"}                                   (the model again, after results)
    ...
    {"type":"finish-step"}
    {"type":"finish","finishReason":"stop"}

- text, reasoning (``reasoning-start/-delta/-end``) and refusals (as text: the UI message has
  no refusal part) each open a part that the next kind of event closes;
- a tool call's ``input`` is its arguments parsed as JSON (``{}`` for none); arguments that
  are not JSON are a ``tool-input-error`` with the text as ``input``;
- the content after a ``ToolResult`` is a new step, as the AI SDK's own ``streamText`` does
  when it calls the model again with the results;
- ``finishReason`` is OpenAI's reason in the SDK's spelling (``tool_calls`` ->
  ``tool-calls``; one it does not know: ``other``). ``ai`` 5 does not know the field:
  :func:`ui_message` ``(ai=5)`` leaves it out;
- ``Usage`` is not sent: the protocol has no part for it (``messageMetadata`` is the app's
  own, validated by its schema);
- ``streamer.Event(data, "weather")`` is a ``data-weather`` part; a dict part (``{"type":
  "data-...", ...}``, a ``source-url``) is sent as it is;
- a failed answer is an ``error`` part (``errorText``: the error's message) and then the body
  is cut, without ``[DONE]`` (streamer's rule for every format): the chat's status is
  ``error``, not ``ready``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..wire.framing import Encoder, json_bytes
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

__all__ = ["UI_MESSAGE", "UIMessageFormat", "UIMessageSSE", "ui_message", "ui_message_parts"]

HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}

#: OpenAI's finish reasons in the AI SDK's spelling (its FinishReason).
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content-filter",
    "content-filter": "content-filter",
    "tool_calls": "tool-calls",
    "tool-calls": "tool-calls",
    "error": "error",
}


class UIMessageSSE(Encoder):
    """Data-only SSE of UI message parts (payloads are the part dicts)."""

    name = "ui-message"
    media_type = "text/event-stream"  # as the AI SDK's UI_MESSAGE_STREAM_HEADERS

    @classmethod
    def data(
        cls, id: int, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        # json_bytes: the app's json_default, if it set one (with_json_default).
        return b"data: " + json_bytes(payload) + b"\n\n"

    @classmethod
    def event(
        cls, id: int, name: str, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        return b"data: " + json_bytes({"type": f"data-{name}", "data": payload}) + b"\n\n"

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        return b"data: [DONE]\n\n"

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        return cls.data(0, {"type": "error", "errorText": message})

    @classmethod
    def ping(cls) -> bytes:
        return b": ping\n\n"  # a comment: the SDK's event-stream parser skips it


@dataclass(frozen=True, eq=False)
class UIMessageFormat:
    """``format="ui-message"`` with its options: see :func:`ui_message`."""

    ai: int = 6
    headers: Mapping[str, str] = field(default_factory=lambda: dict(HEADERS))
    encoder: ClassVar[type[Encoder]] = UIMessageSSE
    #: A stopped resumable answer ends with an ``abort`` part and ``[DONE]``: the chat keeps
    #: the partial message and ends ``ready`` (ai 6's processUIMessageStream: outcome
    #: ``aborted``), where an ``error`` part would leave it in ``error``.
    cancelled: ClassVar[dict[str, Any]] = {"type": "abort"}

    def transform(self, items: Iterable[Any]) -> Iterator[Any]:
        return ui_message_parts(items, finish_reason=self.ai >= 6)


def ui_message(ai: int = 6) -> UIMessageFormat:
    """The UI message stream for clients of ``ai`` major version ``ai`` (5 knows no
    ``finishReason``; 6 is the one tested).

    >>> return stream(answer(messages), format=ui_message(ai=5))
    """
    return UIMessageFormat(ai)


UI_MESSAGE = UIMessageFormat()


def ui_message_parts(
    items: Iterable[Any], *, message_id: str | None = None, finish_reason: bool = True
) -> Iterator[Any]:
    """The parts of an answer's events (anything else passes as it is)."""
    source = iter(items)
    started = in_step = after_results = False
    open_part: tuple[str, str] | None = None  # ("text" | "reasoning", its id)
    parts = 0
    names: dict[str, str] = {}  # tool names, by call id
    reason: str | None = None

    def close() -> Iterator[dict[str, Any]]:
        nonlocal open_part
        if open_part is not None:
            yield {"type": f"{open_part[0]}-end", "id": open_part[1]}
            open_part = None

    def begin() -> Iterator[dict[str, Any]]:
        # Before any content: the message and its step; after tool results, a new step.
        nonlocal started, in_step, after_results
        if not started:
            started = True
            yield {"type": "start", "messageId": message_id or "msg-" + secrets.token_hex(12)}
        if after_results:
            after_results = False
            yield from close()
            if in_step:
                yield {"type": "finish-step"}
                in_step = False
        if not in_step:
            in_step = True
            yield {"type": "start-step"}

    def text(kind: str, delta: str) -> Iterator[dict[str, Any]]:
        nonlocal open_part, parts
        yield from begin()
        if open_part is None or open_part[0] != kind:
            yield from close()
            parts += 1
            open_part = (kind, f"{kind}-{parts}")
            yield {"type": f"{kind}-start", "id": open_part[1]}
        yield {"type": f"{kind}-delta", "id": open_part[1], "delta": delta}

    try:
        for item in source:
            kind = type(item)
            if kind is TextDelta or kind is Refusal:
                yield from text("text", item.text)
            elif kind is ReasoningDelta:
                yield from text("reasoning", item.text)
            elif kind is ToolCallStart:
                yield from begin()
                yield from close()
                names[item.id] = item.name
                yield {"type": "tool-input-start", "toolCallId": item.id, "toolName": item.name}
            elif kind is ToolCallDelta:
                yield from begin()
                yield {
                    "type": "tool-input-delta",
                    "toolCallId": item.id,
                    "inputTextDelta": item.arguments,
                }
            elif kind is ToolCallEnd:
                yield from begin()
                yield from close()
                names[item.id] = item.name
                yield _input(item)
            elif kind is ToolResult:
                yield from begin()
                yield from close()
                after_results = True
                yield {
                    "type": "tool-output-available",
                    "toolCallId": item.id,
                    "output": item.output,
                }
            elif kind is Finish:
                reason = FINISH_REASONS.get(item.reason, "other")
            elif kind is Usage:
                continue
            else:
                yield item  # a part dict, an Event, a record: as it is
        if not started:  # an empty answer is still a message
            yield from begin()
        yield from close()
        if in_step:
            yield {"type": "finish-step"}
        finish: dict[str, Any] = {"type": "finish"}
        if finish_reason and reason is not None:
            finish["finishReason"] = reason
        yield finish
    finally:
        close_source = getattr(source, "close", None)
        if close_source is not None:
            close_source()  # at once: this is what cancels the upstream request


def _input(call: ToolCallEnd) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        return {
            "type": "tool-input-error",
            "toolCallId": call.id,
            "toolName": call.name,
            "input": call.arguments,
            "errorText": f"the arguments are not JSON: {exc}",
        }
    return {
        "type": "tool-input-available",
        "toolCallId": call.id,
        "toolName": call.name,
        "input": value,
    }
