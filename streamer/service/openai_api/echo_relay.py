"""The echo provider as an in-process upstream: ``/v1`` relays it as it relays a real one
(:mod:`.relay`), so the offline default runs the pass-through path, and answers what a real
model answers: ``n`` choices, ``logprobs``, ``response_format`` JSON, tool calls, image parts.

The request is checked first (:func:`.request.completion_request`: what the echo cannot serve
is a 400 naming the field, raised in the view, before any byte), then the echo's answer
events become OpenAI's chunk objects, serialized once, as an upstream's would be:

- ``n``: each choice in turn, its ``index`` set (the SDKs accumulate by index);
- ``logprobs``: each content token's entry; the echo is certain of its tokens (``logprob``
  0) and ``top_logprobs`` lists it first, then placeholders at -9999, as OpenAI gives an
  impossible token;
- ``response_format`` ``json_object`` / ``json_schema``: the reply becomes the JSON object
  ``{"answer": "<reply>"}``, streamed in pieces (a schema is not followed further);
- the usage chunk last, every choice's tokens counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import orjson

from ...llm.events import AnswerEvent, Finish, TextDelta, Usage
from ...llm.formats import openai_chunks
from ...llm.openai_chunks import Answer
from ..echo_provider import EchoProvider, tokens
from .chunks import collected
from .request import CompletionRequest, completion_request

IMPOSSIBLE = -9999.0  # the logprob OpenAI gives a token the model would never pick


class EchoRelay:
    """``relay(body)`` for an :class:`EchoProvider`."""

    def __init__(self, provider: EchoProvider) -> None:
        self.provider = provider

    def __call__(self, body: dict[str, Any]) -> Iterator[list[str]]:
        request = completion_request(body)  # a 400 now, in the view
        answer = Answer(request.model, include_usage=True)
        if request.stream:
            return self._chunks(request, answer)
        return iter([[_dumps(self._whole(request, answer))]])

    def _events(self, request: CompletionRequest) -> Iterator[AnswerEvent]:
        events = self.provider.stream(request.chat)
        return _as_json(events) if request.json_output else events

    def _chunks(self, request: CompletionRequest, answer: Answer) -> Iterator[list[str]]:
        counted = _Counted()
        for index in range(request.n):
            for chunk in openai_chunks(self._events(request), answer):
                if not chunk["choices"]:  # the choice's usage: counted into the last chunk
                    counted.provider_usage(chunk["usage"])
                    continue
                choice = chunk["choices"][0]
                choice["index"] = index
                text = choice["delta"].get("content")
                if request.logprobs and text:
                    choice["logprobs"] = {
                        "content": [_logprob(text, request.top_logprobs)],
                        "refusal": None,
                    }
                yield [_dumps(chunk)]
        yield [_dumps(answer.usage_chunk(counted.total()))]

    def _whole(self, request: CompletionRequest, answer: Answer) -> dict[str, Any]:
        counted = _Counted()
        choices = []
        for index in range(request.n):
            whole = collected(self._events(request), counted)
            (choice,) = answer.completion(
                whole.text, whole.reason, {}, whole.refusal, whole.tool_calls
            )["choices"]
            choice["index"] = index
            if request.logprobs and whole.text:
                choice["logprobs"] = {
                    "content": [_logprob(t, request.top_logprobs) for t in tokens(whole.text)],
                    "refusal": None,
                }
            choices.append(choice)
        completion = answer.completion("", "stop", counted.total())
        completion["choices"] = choices
        return completion


class _Counted:
    """The usage of every choice: the prompt once, the completions summed (a meter's
    ``token``/``provider_usage``, for :func:`.chunks.collected`)."""

    def __init__(self) -> None:
        self.prompt = self.completion = 0

    def token(self) -> None:
        pass  # the echo always reports its usage

    def provider_usage(self, usage: dict[str, Any]) -> None:
        self.prompt = usage.get("prompt_tokens", 0)
        self.completion += usage.get("completion_tokens", 0)

    def total(self) -> dict[str, Any]:
        return Usage(self.prompt, self.completion).as_openai()


def _as_json(events: Iterable[AnswerEvent]) -> Iterator[AnswerEvent]:
    """The reply's text as the JSON object ``{"answer": "<text>"}``, piece by piece."""
    opened = False
    for event in events:
        if type(event) is TextDelta:
            if not opened:
                opened = True
                yield TextDelta('{"answer":"')
            yield replace(event, text=orjson.dumps(event.text).decode()[1:-1])
        elif type(event) is Finish and opened:
            yield TextDelta('"}')
            yield event
        else:
            yield event


def _logprob(token: str, top: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"token": token, "logprob": 0.0, "bytes": list(token.encode())}
    others = [
        {"token": f"<{k}>", "logprob": IMPOSSIBLE, "bytes": list(f"<{k}>".encode())}
        for k in range(1, top)
    ]
    return {**entry, "top_logprobs": [dict(entry), *others][:top]}


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
