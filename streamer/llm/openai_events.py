"""Adapters from the OpenAI SDK's streams to the events of one answer (:mod:`.events`).

- :func:`chat_events` / :func:`achat_events`: a chat-completions stream
  (``client.chat.completions.create(..., stream=True)``: ``Stream`` / ``AsyncStream`` of
  ``ChatCompletionChunk``, or plain dicts of the same shape, as any OpenAI-compatible
  server sends them);
- :func:`response_events` / :func:`aresponse_events`: a Responses API stream
  (``client.responses.create(..., stream=True)``: its typed events, or dicts).

In a Flask view, with ``AsyncOpenAI`` (:func:`streamer.stream` bridges the async generator
onto the process's asyncio loop; build the client on that loop, e.g. with
:func:`streamer.adapter.loop_local`)::

    @app.post("/ask")
    def ask():
        question = request.json["question"]  # read the request here, not in the generator

        async def answer():
            client = loop_local("openai", AsyncOpenAI)
            chunks = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": question}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for event in achat_events(chunks):
                yield event

        return stream(answer())

What comes out (the contract of :mod:`.events`): deltas in the order the upstream sent them,
then :class:`~.events.Usage` when the upstream reports it, then exactly one
:class:`~.events.Finish`. With ``include_usage`` the SDK sends the usage in a last chunk
*after* the one with ``finish_reason``, so the finish is held until the stream ends. A stream
that ends without a finish (chat: no ``finish_reason``; Responses: no ``response.completed``
or ``response.incomplete``) is a broken answer: :class:`~streamer.errors.UpstreamError`, after
the events it did produce. An error while iterating the SDK's stream (a cut connection, an
in-band error event) is raised as an ``UpstreamError`` too (a read timeout as
:class:`~streamer.errors.StreamTimeout`), with the types :mod:`.openai_provider` uses; its
message never quotes the upstream's (an OpenAI error message can quote part of the API key).

Chat tool calls: a call begins (:class:`~.events.ToolCallStart`) at the fragment that carries
its ``id``; fragments of several parallel calls may interleave (they are told apart by
``index``); every call ends (:class:`~.events.ToolCallEnd`, all its arguments) when the
choice finishes, in index order. Only choice 0 is read (``n`` > 1 is not supported).

Reasoning: OpenAI's chat API sends none; DeepSeek and vLLM send ``delta.reasoning_content``,
OpenRouter ``delta.reasoning`` (extra fields of the SDK's pydantic models), both read.

Closing the generator (the client left: streamer's engine closes the producer) closes the
SDK's stream, so its HTTP response and connection close; the async ones await
``aclose()``/``close()``.

Chunks are read by duck typing: this module does not import ``openai``. :class:`ChatAnswer`,
the chat state machine, is fed one chunk at a time, so a reader of its own (the OpenAI
provider parses the raw body's lines into dicts) gets the same events; ``end("stop")`` there
lets an upstream that marked the end with ``[DONE]`` but sent no finish reason finish.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StreamerError, StreamTimeout, UpstreamError
from .events import (
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

if TYPE_CHECKING:
    from collections.abc import Mapping

    from openai.types.chat import ChatCompletionChunk
    from openai.types.responses import ResponseStreamEvent

    Chunk = ChatCompletionChunk | Mapping[str, Any]
    ResponseEvent = ResponseStreamEvent | Mapping[str, Any]

__all__ = ["ChatAnswer", "achat_events", "aresponse_events", "chat_events", "response_events"]

log = logging.getLogger("streamer.llm")

_NO_FINISH = "the upstream ended the answer without a finish reason"
_SAFE_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def chat_events(chunks: Iterable[Chunk]) -> Iterator[AnswerEvent]:
    """The events of a chat-completions stream (see the module's docstring)."""
    return _drive(chunks, ChatAnswer())


def achat_events(chunks: AsyncIterable[Chunk]) -> AsyncIterator[AnswerEvent]:
    """:func:`chat_events` over an async stream (``AsyncOpenAI``'s)."""
    return _adrive(chunks, ChatAnswer())


def response_events(events: Iterable[ResponseEvent]) -> Iterator[AnswerEvent]:
    """The events of a Responses API stream (see the module's docstring)."""
    return _drive(events, _ResponseAnswer())


def aresponse_events(events: AsyncIterable[ResponseEvent]) -> AsyncIterator[AnswerEvent]:
    """:func:`response_events` over an async stream (``AsyncOpenAI``'s)."""
    return _adrive(events, _ResponseAnswer())


# -- the two wrappers: they only iterate; the state machines below do the rest --------------


def _drive(source: Iterable[Any], answer: _Answer) -> Iterator[AnswerEvent]:
    try:
        items = iter(source)
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except StreamerError:
                raise
            except Exception as exc:
                raise _broken(exc, answer.started) from None
            yield from answer.feed(item)
        yield from answer.end()
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


async def _adrive(source: AsyncIterable[Any], answer: _Answer) -> AsyncIterator[AnswerEvent]:
    try:
        items = aiter(source)
        while True:
            try:
                item = await anext(items)
            except StopAsyncIteration:
                break
            except StreamerError:
                raise
            except Exception as exc:
                raise _broken(exc, answer.started) from None
            for event in answer.feed(item):
                yield event
        for event in answer.end():
            yield event
    finally:
        close = getattr(source, "aclose", None) or getattr(source, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


def _broken(exc: Exception, started: bool) -> StreamerError:
    # The SDK's errors (APIConnectionError, APIError for an in-band error event) carry the
    # upstream's message; only the class name is logged, nothing of it reaches the client.
    # The types are openai_provider's, so a client sees the same ones from either.
    log.warning("upstream stream failed: %s", type(exc).__name__)
    if isinstance(exc, TimeoutError) or any("Timeout" in k.__name__ for k in type(exc).__mro__):
        # openai.APITimeoutError, httpx's TimeoutException: by name, without importing them
        return StreamTimeout("the model did not answer in time", type="upstream_timeout")
    if started:
        return UpstreamError("the model's answer broke off", type="upstream_disconnected")
    return UpstreamError("the model's answer could not be read", type="upstream_error")


# -- reading SDK objects and dicts alike -----------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` of a dict, ``obj.name`` of an SDK model (its pydantic extras too)."""
    if isinstance(obj, dict):  # first: the OpenAI provider feeds dicts, once per token
        return obj.get(name)
    if obj is None:
        return None
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if extra:
            value = extra.get(name)
    return value


def _plain(obj: Any) -> Any:
    """An SDK model as plain JSON-able data, the fields the upstream sent (dicts as they are)."""
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json", exclude_unset=True) if dump is not None else obj


def _usage(usage: Any, prompt: str, completion: str) -> Usage:
    data = _plain(usage)
    skip = {prompt, completion, "total_tokens"}  # the total is derived (Usage.total_tokens)
    return Usage(
        prompt_tokens=int(data.get(prompt) or 0),
        completion_tokens=int(data.get(completion) or 0),
        extra={k: v for k, v in data.items() if k not in skip and v is not None},
    )


# -- the state machines ----------------------------------------------------------------------


class _Answer:
    """Fed the upstream's items one by one; returns the events each completes."""

    started = False  # an event has gone out

    def feed(self, item: Any) -> list[AnswerEvent]:
        raise NotImplementedError

    def end(self) -> list[AnswerEvent]:
        raise NotImplementedError


@dataclass
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    ended: bool = False


class ChatAnswer(_Answer):
    """A chat-completions answer, fed chunk by chunk (SDK objects or dicts): :meth:`feed`
    returns the events a chunk completes, :meth:`end` the held finish."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}  # by the delta's index
        self._finish: Finish | None = None  # held until the stream ends (usage may follow)

    def feed(self, item: Any) -> list[AnswerEvent]:
        if _get(item, "error"):  # an in-band error, as some compatible servers send it
            raise UpstreamError("the model reported an error mid-answer", type="upstream_error")
        out: list[AnswerEvent] = []
        for choice in _get(item, "choices") or ():
            if (_get(choice, "index") or 0) == 0:
                self._choice(choice, out)
        usage = _get(item, "usage")
        if usage:
            out.append(_usage(usage, "prompt_tokens", "completion_tokens"))
        self.started = self.started or bool(out)
        return out

    def _choice(self, choice: Any, out: list[AnswerEvent]) -> None:
        delta = _get(choice, "delta")
        reasoning = _get(delta, "reasoning_content") or _get(delta, "reasoning")
        if reasoning and isinstance(reasoning, str):
            out.append(ReasoningDelta(reasoning))
        if text := _get(delta, "content"):
            out.append(TextDelta(text))
        if refusal := _get(delta, "refusal"):
            out.append(Refusal(refusal))
        for fragment in _get(delta, "tool_calls") or ():
            self._tool_call(fragment, out)
        reason = _get(choice, "finish_reason")
        if reason and self._finish is None:
            self._end_calls(out)
            self._finish = Finish(reason)

    def _end_calls(self, out: list[AnswerEvent]) -> None:
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call.ended:
                call.ended = True
                out.append(ToolCallEnd(call.id, call.name, "".join(call.arguments)))

    def _tool_call(self, fragment: Any, out: list[AnswerEvent]) -> None:
        index = _get(fragment, "index") or 0
        function = _get(fragment, "function")
        name = _get(function, "name")
        arguments = _get(function, "arguments")
        call = self._calls.get(index)
        if call is None:
            call_id = _get(fragment, "id") or f"call_{index}"  # some servers send none
            call = self._calls[index] = _Call(call_id, name or "")
            out.append(ToolCallStart(call.id, call.name, index))
        if arguments:
            call.arguments.append(arguments)
            out.append(ToolCallDelta(call.id, arguments))

    def end(self, default: str | None = None) -> list[AnswerEvent]:
        """The finish, after the usage that followed it. An upstream that sent no finish
        reason: ``Finish(default)`` (its open tool calls ended first), or, with no default,
        a broken answer (:class:`~streamer.errors.UpstreamError`)."""
        if self._finish is None:
            if default is None:
                raise UpstreamError(_NO_FINISH, type="upstream_incomplete")
            out: list[AnswerEvent] = []
            self._end_calls(out)
            self._finish = Finish(default)
            return [*out, self._finish]
        return [self._finish]


class _ResponseAnswer(_Answer):
    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}  # by the output item's id
        self._done = False

    def feed(self, item: Any) -> list[AnswerEvent]:
        if self._done:
            return []
        kind = _get(item, "type")
        delta = _get(item, "delta")
        out: list[AnswerEvent] = []
        if kind == "response.output_text.delta" and delta:
            out.append(TextDelta(delta))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            if delta:
                out.append(ReasoningDelta(delta))
        elif kind == "response.refusal.delta" and delta:
            out.append(Refusal(delta))
        elif kind == "response.output_item.added":
            added = _get(item, "item")
            if _get(added, "type") == "function_call":
                call = _Call(_get(added, "call_id"), _get(added, "name"))
                self._calls[_get(added, "id") or call.id] = call
                out.append(ToolCallStart(call.id, call.name, len(self._calls) - 1))
        elif kind == "response.function_call_arguments.delta":
            if (call_of := self._calls.get(_get(item, "item_id"))) and delta:
                call_of.arguments.append(delta)
                out.append(ToolCallDelta(call_of.id, delta))
        elif kind == "response.function_call_arguments.done":
            self._end_call(_get(item, "item_id"), _get(item, "arguments"), out)
        elif kind == "response.output_item.done":
            done = _get(item, "item")
            if _get(done, "type") == "function_call":
                self._end_call(_get(done, "id"), _get(done, "arguments"), out)
        elif kind in ("response.completed", "response.incomplete"):
            self._finish(_get(item, "response"), out)
        elif kind in ("response.failed", "error"):
            error = _get(_get(item, "response"), "error") if kind != "error" else item
            raise UpstreamError(_failed(_get(error, "code")), type="upstream_error")
        self.started = self.started or bool(out)
        return out

    def _end_call(self, item_id: Any, arguments: str | None, out: list[AnswerEvent]) -> None:
        call = self._calls.get(item_id)
        if call is not None and not call.ended:
            call.ended = True
            whole = arguments if arguments is not None else "".join(call.arguments)
            out.append(ToolCallEnd(call.id, call.name, whole))

    def _finish(self, response: Any, out: list[AnswerEvent]) -> None:
        self._done = True
        for item_id in list(self._calls):  # a call the stream never ended: end it now
            self._end_call(item_id, None, out)
        if usage := _get(response, "usage"):
            out.append(_usage(usage, "input_tokens", "output_tokens"))
        if _get(response, "status") == "incomplete" or _get(response, "incomplete_details"):
            reason = _get(_get(response, "incomplete_details"), "reason") or "incomplete"
            out.append(Finish("length" if reason == "max_output_tokens" else reason))
        else:
            called = self._calls or any(
                _get(o, "type") == "function_call" for o in _get(response, "output") or ()
            )
            out.append(Finish("tool_calls" if called else "stop"))

    def end(self) -> list[AnswerEvent]:
        if not self._done:
            raise UpstreamError(_NO_FINISH, type="upstream_incomplete")
        return []


def _failed(code: Any) -> str:
    # The upstream's error message may quote the request or a key: only a code that looks
    # like one of OpenAI's error codes (server_error, rate_limit_exceeded, ...) is passed on.
    if isinstance(code, str) and _SAFE_CODE.fullmatch(code):
        return f"the model failed the answer ({code})"
    return "the model failed the answer"
