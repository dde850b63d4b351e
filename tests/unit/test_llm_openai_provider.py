"""Fast tier of streamer.llm.openai_provider: the answer events it makes of the raw body's
``data:`` lines (over httpx2's MockTransport, the body cut into network chunks at odd places),
and how it names an upstream's refusal. The provider against a protocol-accurate upstream is
tests/real/test_chat_openai.py; its transport, tests/unit/test_llm_transport.py."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx2
import openai
import pytest

from streamer.errors import StreamerError, UpstreamError
from streamer.llm import ChatRequest
from streamer.llm.events import (
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
from streamer.llm.openai_provider import OpenAIProvider, _status_error

pytestmark = pytest.mark.timeout(20)

REQUEST = ChatRequest(messages=({"role": "user", "content": "hi"},), model="gpt-test")
USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 4,
    "total_tokens": 13,
    "prompt_tokens_details": {"cached_tokens": 0},
}
_keys = itertools.count()


class Canned(OpenAIProvider):
    """The provider with an SDK client whose upstream answers ``pieces``, one network read
    each."""

    def __init__(self, pieces: list[bytes]) -> None:
        super().__init__("sk-test", "http://upstream.test/v1", timeout_s=5, max_retries=0)
        self._client_key = f"canned-{next(_keys)}"  # a client of its own, never a reused id's
        self.pieces = pieces
        self.bodies: list[dict[str, Any]] = []

    def _client(self) -> openai.AsyncOpenAI:
        async def body() -> AsyncIterator[bytes]:
            for piece in self.pieces:
                yield piece

        async def answer(request: httpx2.Request) -> httpx2.Response:
            self.bodies.append(json.loads(request.content))
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, content=body()
            )

        return openai.AsyncOpenAI(
            api_key="sk-test",
            base_url="http://upstream.test/v1",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(answer)),
        )


def sse(*chunks: dict[str, Any] | str, done: bool = True) -> bytes:
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def cut(body: bytes, size: int) -> list[bytes]:
    """``body`` in network reads of ``size`` bytes: lines split anywhere."""
    return [body[i : i + size] for i in range(0, len(body), size)]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}


def events(body: bytes, size: int = 7) -> list[AnswerEvent]:
    return list(Canned(cut(body, size)).stream(REQUEST))


@pytest.mark.parametrize("size", [1, 7, 10_000], ids=["bytewise", "odd", "whole"])
def test_deltas_then_the_usage_that_follows_the_finish_then_the_finish(size: int) -> None:
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "think"}),  # DeepSeek, vLLM
        chunk({"reasoning": " more"}),  # OpenRouter
        chunk({"content": "Hé"}),
        chunk({"content": "llo"}),
        chunk({"refusal": "no"}),
        chunk({}, finish="stop", usage=None),
        chunk(usage=USAGE),  # include_usage: after the finish chunk, choices: []
    )
    assert events(body, size) == [
        ReasoningDelta("think"),
        ReasoningDelta(" more"),
        TextDelta("Hé"),
        TextDelta("llo"),
        Refusal("no"),
        Usage(9, 4, {"prompt_tokens_details": {"cached_tokens": 0}}),  # the extras kept
        Finish("stop"),
    ]


def test_the_request_asks_for_the_usage() -> None:
    provider = Canned([sse(chunk({}, finish="stop"))])
    assert list(provider.stream(REQUEST)) == [Finish("stop")]
    assert provider.bodies[0]["stream_options"] == {"include_usage": True}


def test_two_parallel_tool_calls_in_fragments_end_at_the_finish_in_index_order() -> None:
    def call(index: int, arguments: str, **start: Any) -> dict[str, Any]:
        fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if start:
            fragment.update(id=start["id"], type="function")
            fragment["function"]["name"] = start["name"]
        return chunk({"tool_calls": [fragment]})

    body = sse(
        call(0, "", id="call_a", name="weather"),
        call(1, '{"tz"', id="call_b", name="time"),
        call(0, '{"city":'),
        call(1, ':"CET"}'),
        call(0, '"Oslo"}'),
        chunk({}, finish="tool_calls"),
        chunk(usage=USAGE),
    )
    got = events(body)
    assert got == [
        ToolCallStart("call_a", "weather", 0),
        ToolCallStart("call_b", "time", 1),
        ToolCallDelta("call_b", '{"tz"'),
        ToolCallDelta("call_a", '{"city":'),
        ToolCallDelta("call_b", ':"CET"}'),
        ToolCallDelta("call_a", '"Oslo"}'),
        ToolCallEnd("call_a", "weather", '{"city":"Oslo"}'),
        ToolCallEnd("call_b", "time", '{"tz":"CET"}'),
        Usage(9, 4, {"prompt_tokens_details": {"cached_tokens": 0}}),
        Finish("tool_calls"),
    ]


def test_done_without_a_finish_reason_finishes_with_stop_once() -> None:
    # Some OpenAI-compatible servers never send one; [DONE] says the answer is whole.
    body = sse(chunk({"content": "a"}), chunk({"content": "b"}), '"not a chunk"', '["x"]')
    assert events(body) == [TextDelta("a"), TextDelta("b"), Finish("stop")]
    twice = sse(chunk({}, finish="length"), chunk({}, finish="stop"))
    assert events(twice) == [Finish("length")]


def test_a_body_cut_before_done_is_incomplete_after_its_events() -> None:
    got: list[AnswerEvent] = []
    with pytest.raises(UpstreamError) as info:
        for event in Canned([sse(chunk({"content": "a"}), chunk({}, "stop"), done=False)]).stream(
            REQUEST
        ):
            got.append(event)
    assert got == [TextDelta("a")]  # the finish is held: the answer never finished
    assert info.value.type == "upstream_incomplete"


@pytest.mark.parametrize(
    ("line", "type"),
    [
        pytest.param({"error": {"message": "overloaded sk-secret"}}, "upstream_error", id="error"),
        pytest.param("{not json", "upstream_disconnected", id="bad-json"),
    ],
)
def test_a_bad_line_fails_the_answer_after_what_came_before(line: Any, type: str) -> None:
    got: list[AnswerEvent] = []
    with pytest.raises(UpstreamError) as info:
        for event in Canned([sse(chunk({"content": "a"}), line)]).stream(REQUEST):
            got.append(event)
    assert got == [TextDelta("a")]
    assert info.value.type == type and "sk-secret" not in info.value.message


def status_error(status: int, headers: dict[str, str] | None = None) -> Any:
    # Only what _status_error reads of an openai.APIStatusError.
    return SimpleNamespace(status_code=status, response=SimpleNamespace(headers=headers or {}))


@pytest.mark.parametrize(
    ("status", "type"),
    [
        (401, "upstream_auth"),
        (403, "upstream_auth"),
        (404, "upstream_rejected"),
        (422, "upstream_rejected"),
        (500, "upstream_error"),
        (503, "upstream_error"),
    ],
)
def test_upstream_statuses_become_streamer_errors(status: int, type: str) -> None:
    error = _status_error(status_error(status))
    assert isinstance(error, UpstreamError) and error.type == type


def test_a_rate_limit_passes_on_its_retry_after() -> None:
    error = _status_error(status_error(429, {"retry-after": "7"}))
    assert isinstance(error, StreamerError) and not isinstance(error, UpstreamError)
    assert (error.status, error.type, error.retry_after) == (429, "upstream_rate_limited", 7.0)
    assert _status_error(status_error(429, {"retry-after": "soon"})).retry_after is None
