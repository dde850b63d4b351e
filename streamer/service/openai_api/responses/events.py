"""A provider's answer events as the Responses API's stream events, and the response object
those events describe.

:func:`response_events` turns :mod:`streamer.llm.events` into OpenAI's semantic events, in
OpenAI's order, each a dict with its ``type`` and an increasing ``sequence_number`` (from 0)::

    response.created, response.in_progress
    response.output_item.added (a message), response.content_part.added (output_text)
    response.output_text.delta ...                       (one per TextDelta)
    response.output_text.done, response.content_part.done, response.output_item.done
    response.output_item.added (a function_call)          (one per tool call)
    response.function_call_arguments.delta ... .done, response.output_item.done
    response.completed (usage) | response.incomplete (max_output_tokens, content_filter)

A refusal is a ``refusal`` content part (``response.refusal.delta`` / ``.done``); the model's
reasoning (``ReasoningDelta``, an upstream's ``reasoning_content``) a ``reasoning`` item with a
``reasoning_text`` part (``response.reasoning_text.delta`` / ``.done``). A failure is
not an event of this generator: it raises, as every producer does, and the wire encoder
(:mod:`.wire`) writes ``response.failed`` from the :class:`~.fold.Fold` of what went out, so a
failure the engine sees (the maximum duration, a lost producer) reads the same as one of the
provider's.

:class:`~.fold.Fold` is the other direction: the response object these events describe.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Generator, Iterator
from typing import Any

from gevent import GreenletExit

from ....errors import StreamTimeout
from ....llm.events import (
    AnswerEvent,
    Finish,
    ReasoningDelta,
    Refusal,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from ..usage import UsageMeter
from .fold import Fold

__all__ = ["new_response_id", "response_events", "shell"]

#: A new content part of each kind.
_PARTS: dict[str, dict[str, Any]] = {
    "output_text": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
    "refusal": {"type": "refusal", "refusal": ""},
    "reasoning_text": {"type": "reasoning_text", "text": ""},
}
#: Why an answer stopped early (its Finish reason), as ``incomplete_details.reason``.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    """``resp_`` and 48 hex digits, as OpenAI's ids look: 192 random bits, unguessable."""
    return "resp_" + secrets.token_hex(24)


def _item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def shell(response_id: str, echo: dict[str, Any], *, background: bool) -> dict[str, Any]:
    """The response object before any output: what ``response.created`` carries."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "queued" if background else "in_progress",
        "background": background,
        "error": None,
        "incomplete_details": None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "model": echo.get("model"),
        "output": [],
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": echo.get("store", True),
        "temperature": echo.get("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools", []),
        "top_p": echo.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": echo.get("user"),
        "metadata": echo.get("metadata", {}),
    }


def responses_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """A chat ``usage`` object (the meter's) in the Responses API's names."""
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


class _Builder:
    """The events of one response: numbers them and keeps their :class:`Fold`."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.fold = Fold()
        self.response = response
        self.seq = 0
        self.message: dict[str, Any] | None = None  # the open message or reasoning item
        self.part: str | None = None  # its open content part: "output_text" or "refusal"
        self.content_index = 0  # the open part's place in the message's content
        self.calls: dict[str, dict[str, Any]] = {}  # open function_call items by call id
        self.index: dict[str, int] = {}  # item id -> output_index

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        self.fold.add(event)
        return event

    def snapshot(self, status: str) -> dict[str, Any]:
        return {**self.fold.response(), "status": status}

    def _add_item(self, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
        index = len(self.fold.output)
        self.index[item["id"]] = index
        yield self.event("response.output_item.added", output_index=index, item=item)

    def text(self, kind: str, delta: str) -> Iterator[dict[str, Any]]:
        """A piece of a content part: ``output_text`` or ``refusal`` (of a message item),
        ``reasoning_text`` (of a reasoning item)."""
        want = "reasoning" if kind == "reasoning_text" else "message"
        if self.message is not None and self.message["type"] != want:
            yield from self.close_message()
        if self.message is not None and self.part != kind:
            yield from self.close_part()
        if self.message is None:
            if want == "message":
                self.message = {
                    "id": _item_id("msg"),
                    "type": "message",
                    "status": "in_progress",
                    "content": [],
                    "role": "assistant",
                }
            else:
                self.message = {
                    "id": _item_id("rs"),
                    "type": "reasoning",
                    "summary": [],
                    "content": [],
                    "status": "in_progress",
                }
            yield from self._add_item(copy.deepcopy(self.message))
        if self.part is None:
            self.part = kind
            index = self.index[self.message["id"]]
            self.content_index = len(self.fold.output[index]["content"])
            yield self.event(
                "response.content_part.added", **self._ids(), part=copy.deepcopy(_PARTS[kind])
            )
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        yield self.event(f"response.{kind}.delta", **self._ids(), delta=delta, **extra)

    def _ids(self) -> dict[str, Any]:
        assert self.message is not None
        item_id = self.message["id"]
        return {"item_id": item_id, "output_index": self.index[item_id],
                "content_index": self.content_index}  # fmt: skip

    def close_part(self) -> Iterator[dict[str, Any]]:
        if self.message is None or self.part is None:
            return
        ids = self._ids()
        content = self.fold.output[ids["output_index"]]["content"]
        part = copy.deepcopy(content[ids["content_index"]])
        if self.part == "output_text":
            yield self.event("response.output_text.done", **ids, text=part["text"], logprobs=[])
        elif self.part == "refusal":
            yield self.event("response.refusal.done", **ids, refusal=part["refusal"])
        else:
            yield self.event("response.reasoning_text.done", **ids, text=part["text"])
        yield self.event("response.content_part.done", **ids, part=part)
        self.part = None

    def close_message(self, status: str = "completed") -> Iterator[dict[str, Any]]:
        if self.message is None:
            return
        yield from self.close_part()
        index = self.index[self.message["id"]]
        item = {**copy.deepcopy(self.fold.output[index]), "status": status}
        yield self.event("response.output_item.done", output_index=index, item=item)
        self.message = None

    def call_start(self, call_id: str, name: str) -> Iterator[dict[str, Any]]:
        yield from self.close_message()
        item = {"id": _item_id("fc"), "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": name}  # fmt: skip
        self.calls[call_id] = item
        yield from self._add_item(dict(item))

    def call_delta(self, call_id: str, arguments: str) -> Iterator[dict[str, Any]]:
        item = self.calls.get(call_id)
        if item is None or not arguments:
            return
        index = self.index[item["id"]]
        yield self.event(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=index,
            delta=arguments,
        )

    def call_end(self, call_id: str, arguments: str | None = None) -> Iterator[dict[str, Any]]:
        item = self.calls.pop(call_id, None)
        if item is None:
            return
        index = self.index[item["id"]]
        whole = self.fold.output[index]["arguments"] if arguments is None else arguments
        yield self.event(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            arguments=whole,
        )
        done = {**item, "status": "completed", "arguments": whole}
        yield self.event("response.output_item.done", output_index=index, item=done)


def response_events(
    events: Iterator[AnswerEvent],
    response: dict[str, Any],
    meter: UsageMeter,
    *,
    detached: bool = False,
) -> Generator[dict[str, Any], None, None]:
    """The stream events of ``response`` (a :func:`shell`) answered by a provider's
    ``events``, counted into ``meter`` and reported to it when this generator ends.

    A background response (``response["background"]``) says ``response.created`` at once
    (status ``queued``); any other waits for the provider's first event, so that a failure
    before it (the upstream's 401, 429) is still a real HTTP status. ``detached``: a cancel
    (GeneratorExit) is a ``cancel``, not a ``disconnect``."""
    builder = _Builder(response)
    outcome = "error"
    it = iter(events)
    try:
        if response["background"]:
            yield builder.event("response.created", response=copy.deepcopy(response))
        first = next(it, None)
        running = {**response, "status": "in_progress"}
        if not response["background"]:
            yield builder.event("response.created", response=copy.deepcopy(running))
        yield builder.event("response.in_progress", response=copy.deepcopy(running))
        reason = "stop"
        pending = [] if first is None else [first]
        for event in _chain(pending, it):
            if isinstance(event, TextDelta):
                meter.token()
                yield from builder.text("output_text", event.text)
            elif isinstance(event, Refusal):
                yield from builder.text("refusal", event.text)
            elif isinstance(event, ReasoningDelta):
                yield from builder.text("reasoning_text", event.text)
            elif isinstance(event, ToolCallStart):
                yield from builder.call_start(event.id, event.name)
            elif isinstance(event, ToolCallDelta):
                yield from builder.call_delta(event.id, event.arguments)
            elif isinstance(event, ToolCallEnd):
                if event.id not in builder.calls:  # a call sent whole, without a start
                    yield from builder.call_start(event.id, event.name)
                yield from builder.call_end(event.id, event.arguments)
            elif isinstance(event, Usage):
                meter.provider_usage(event.as_openai())
            elif isinstance(event, Finish):
                reason = event.reason
            # A ToolResult is the app's, not the model's: no item (docs/openai.md).
        incomplete = _INCOMPLETE.get(reason)
        item_status = "incomplete" if incomplete else "completed"
        yield from builder.close_message(item_status)
        for call_id in list(builder.calls):
            yield from builder.call_end(call_id)
        final = builder.snapshot("incomplete" if incomplete else "completed")
        final["incomplete_details"] = {"reason": incomplete} if incomplete else None
        final["usage"] = responses_usage(meter.usage())
        if not incomplete:
            final["completed_at"] = int(time.time())
        terminal = "response.incomplete" if incomplete else "response.completed"
        yield builder.event(terminal, response=final)
        outcome = "complete"
    except (GeneratorExit, GreenletExit):
        outcome = "cancel" if detached else "disconnect"
        raise
    except StreamTimeout:
        outcome = "timeout"
        raise
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # at once: this is what closes the upstream request
        meter.finish(outcome)


def _chain(first: list[AnswerEvent], rest: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
    yield from first
    yield from rest
