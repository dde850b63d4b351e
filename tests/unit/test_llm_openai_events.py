"""streamer.llm.openai_events: the OpenAI SDK's chat chunks and Responses events, as the SDK
builds them (``model_validate`` of the wire JSON) and as plain dicts, become answer events;
the finish waits for a later usage chunk; a stream without a finish fails after its events;
closing the generator closes the SDK's stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

import pytest
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
)

from streamer.errors import StreamTimeout, UpstreamError
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
from streamer.llm.openai_events import (
    ChatAnswer,
    achat_events,
    aresponse_events,
    chat_events,
    response_events,
)

pytestmark = pytest.mark.timeout(10)
T = TypeVar("T")


def run(coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(coro(), 5))


# -- chat completions ------------------------------------------------------------------------

USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 3,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    """A chunk as the API sends it (include_usage: ``"usage": null`` on every chunk)."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": choices,
        "usage": None,
        **extra,
    }


def sdk(chunks: Iterable[dict[str, Any]]) -> list[ChatCompletionChunk]:
    return [ChatCompletionChunk.model_validate(c) for c in chunks]


TEXT = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({}, finish="stop"),
    chunk(usage=USAGE),  # choices: [], after the finish (stream_options.include_usage)
]
TEXT_EVENTS: list[AnswerEvent] = [
    TextDelta("Hel"),
    TextDelta("lo"),
    Usage(12, 3, {"prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}),
    Finish("stop"),
]

TOOLS = [
    chunk({"role": "assistant", "content": None}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "time", "arguments": '{"tz"'},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": ':"CET"}'}}]}),
    chunk({}, finish="tool_calls"),
    chunk(usage=USAGE),
]
TOOL_EVENTS: list[AnswerEvent] = [
    ToolCallStart("call_a", "weather", 0),
    ToolCallDelta("call_a", '{"city":'),
    ToolCallStart("call_b", "time", 1),
    ToolCallDelta("call_b", '{"tz"'),
    ToolCallDelta("call_a", '"Oslo"}'),
    ToolCallDelta("call_b", ':"CET"}'),
    ToolCallEnd("call_a", "weather", '{"city":"Oslo"}'),
    ToolCallEnd("call_b", "time", '{"tz":"CET"}'),
    Usage(12, 3, {"prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}),
    Finish("tool_calls"),
]


@pytest.mark.parametrize("kind", ["sdk", "dict"])
@pytest.mark.parametrize(
    ("chunks", "expected"),
    [pytest.param(TEXT, TEXT_EVENTS, id="text"), pytest.param(TOOLS, TOOL_EVENTS, id="tools")],
)
def test_chat_chunks_become_events_usage_before_the_finish(
    kind: str, chunks: list[dict[str, Any]], expected: list[AnswerEvent]
) -> None:
    source: list[Any] = sdk(chunks) if kind == "sdk" else chunks
    assert list(chat_events(source)) == expected


def test_refusal_and_reasoning_extras_of_the_sdk_model() -> None:
    chunks = sdk(
        [
            chunk({"role": "assistant", "reasoning_content": "think"}),  # DeepSeek, vLLM
            chunk({"reasoning": " more"}),  # OpenRouter
            chunk({"content": None, "refusal": "I can't"}),
            chunk({"refusal": " help."}, finish="content_filter"),
        ]
    )
    assert chunks[0].choices[0].delta.model_extra == {"reasoning_content": "think"}
    assert list(chat_events(chunks)) == [
        ReasoningDelta("think"),
        ReasoningDelta(" more"),
        Refusal("I can't"),
        Refusal(" help."),
        Finish("content_filter"),  # no usage chunk: no Usage
    ]


def test_usage_in_the_finish_chunk_and_other_choices_ignored() -> None:
    other = chunk({"content": "second choice"})
    other["choices"][0]["index"] = 1
    chunks = [chunk({"content": "a"}), other, chunk({}, finish="length", usage=USAGE)]
    events = list(chat_events(sdk(chunks)))
    assert events[0] == TextDelta("a")
    assert [type(e) for e in events] == [TextDelta, Usage, Finish]
    assert events[-1] == Finish("length")


@pytest.mark.parametrize("kind", ["sdk", "dict"])
def test_a_stream_without_a_finish_raises_after_its_events(kind: str) -> None:
    chunks = [chunk({"content": "Hel"}), chunk({"content": "lo"})]
    got: list[AnswerEvent] = []
    with pytest.raises(UpstreamError, match="without a finish reason") as info:
        for event in chat_events(sdk(chunks) if kind == "sdk" else chunks):
            got.append(event)
    assert got == [TextDelta("Hel"), TextDelta("lo")]
    assert info.value.type == "upstream_incomplete"


def test_fed_by_hand_an_answer_without_a_finish_can_end_with_a_default() -> None:
    # What a reader that saw [DONE] does (the OpenAI provider): the open calls end first.
    answer = ChatAnswer()
    got = [e for c in TOOLS[:-2] for e in answer.feed(c)]
    assert got == TOOL_EVENTS[:6]
    assert answer.end("stop") == [*TOOL_EVENTS[6:8], Finish("stop")]
    with pytest.raises(UpstreamError, match="without a finish reason"):
        ChatAnswer().end()
    held = ChatAnswer()
    held.feed(chunk({}, finish="length"))
    assert held.end("stop") == [Finish("length")]  # a reason sent wins over the default


def test_an_in_band_error_chunk_and_a_broken_iteration_become_upstream_errors() -> None:
    secret = "sk-secret-0123456789"
    with pytest.raises(UpstreamError, match="error mid-answer") as info:
        list(chat_events([chunk({"content": "a"}), {"error": {"message": secret}}]))
    assert secret not in str(info.value)

    def cut() -> Iterator[dict[str, Any]]:
        yield chunk({"content": "a"})
        raise ConnectionResetError(f"peer quoted {secret}")

    with pytest.raises(UpstreamError, match="broke off") as info:
        list(chat_events(cut()))
    assert info.value.type == "upstream_disconnected"
    assert secret not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


class APITimeoutError(Exception):
    """Named like the SDK's (openai.APITimeoutError): matched by name, not imported."""


@pytest.mark.parametrize("error", [TimeoutError("read"), APITimeoutError("Request timed out.")])
def test_a_read_timeout_is_a_stream_timeout(error: Exception) -> None:
    def slow() -> Iterator[dict[str, Any]]:
        yield chunk({"content": "a"})
        raise error

    got: list[AnswerEvent] = []
    with pytest.raises(StreamTimeout, match="did not answer in time") as info:
        for event in chat_events(slow()):
            got.append(event)
    assert got == [TextDelta("a")]
    assert info.value.type == "upstream_timeout"


def test_async_chat_events_share_the_state_machine() -> None:
    async def source() -> AsyncIterator[ChatCompletionChunk]:
        for c in sdk(TOOLS):
            yield c

    async def collect() -> list[AnswerEvent]:
        return [event async for event in achat_events(source())]

    assert run(collect) == TOOL_EVENTS


def test_async_without_a_finish_raises_after_its_events() -> None:
    async def source() -> AsyncIterator[dict[str, Any]]:
        yield chunk({"content": "a"})

    async def collect() -> list[AnswerEvent]:
        got: list[AnswerEvent] = []
        with pytest.raises(UpstreamError, match="without a finish reason"):
            async for event in achat_events(source()):
                got.append(event)
        return got

    assert run(collect) == [TextDelta("a")]


# -- closing: the SDK's stream (so its HTTP response) closes with the generator ------------


class SyncSource:
    """Like the SDK's Stream: iterable, with close()."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[Any]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed += 1


class AsyncSource:
    """Like the SDK's AsyncStream: async iterable, with async close() and aclose()."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks
        self.closed = 0

    async def __aiter__(self) -> AsyncIterator[Any]:
        for c in self.chunks:
            await asyncio.sleep(0)
            yield c

    async def aclose(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("adapter", [chat_events, response_events])
def test_closing_the_generator_closes_the_source(adapter: Callable[..., Any]) -> None:
    source = SyncSource(sdk(TEXT) if adapter is chat_events else RESPONSE_TEXT)
    events = adapter(source)
    next(events)
    assert source.closed == 0
    events.close()
    assert source.closed == 1


def test_the_source_is_closed_at_the_end_and_on_failure_too() -> None:
    done = SyncSource(sdk(TEXT))
    assert list(chat_events(done)) == TEXT_EVENTS
    assert done.closed == 1
    broken = SyncSource(sdk(TEXT[:2]))
    with pytest.raises(UpstreamError):
        list(chat_events(broken))
    assert broken.closed == 1


@pytest.mark.parametrize("adapter", [achat_events, aresponse_events])
def test_aclosing_the_async_generator_awaits_the_source_close(adapter: Callable[..., Any]) -> None:
    source = AsyncSource(sdk(TEXT) if adapter is achat_events else RESPONSE_TEXT)

    async def first_then_close() -> AnswerEvent:
        events = adapter(source)
        first: AnswerEvent = await anext(events)
        assert source.closed == 0
        await events.aclose()
        return first

    assert isinstance(run(first_then_close), TextDelta | ReasoningDelta)
    assert source.closed == 1


# -- the Responses API -----------------------------------------------------------------------


def response(status: str = "completed", **extra: Any) -> dict[str, Any]:
    """A ``Response`` object as the terminal events carry it."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-test",
        "status": status,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 20,
            "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 27,
        },
        **extra,
    }


def text_delta(delta: str, seq: int) -> ResponseTextDeltaEvent:
    return ResponseTextDeltaEvent.model_validate(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": delta,
            "logprobs": [],
            "sequence_number": seq,
        }
    )


USAGE_EVENT = Usage(
    20,
    7,
    {
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 2},
    },
)
RESPONSE_TEXT: list[Any] = [
    ResponseReasoningSummaryTextDeltaEvent.model_validate(
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "delta": "Greeting.",
            "sequence_number": 3,
        }
    ),
    text_delta("Hi", 4),
    text_delta(" there", 5),
    ResponseCompletedEvent.model_validate(
        {"type": "response.completed", "response": response(), "sequence_number": 6}
    ),
]


def function_call(status: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_w",
        "name": "weather",
        "arguments": arguments,
        "status": status,
    }


RESPONSE_CALL: list[Any] = [
    ResponseOutputItemAddedEvent.model_validate(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": function_call("in_progress", ""),
            "sequence_number": 2,
        }
    ),
    *(
        ResponseFunctionCallArgumentsDeltaEvent.model_validate(
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "fc_1",
                "output_index": 0,
                "delta": part,
                "sequence_number": 3 + i,
            }
        )
        for i, part in enumerate(['{"city":', '"Oslo"}'])
    ),
    ResponseFunctionCallArgumentsDoneEvent.model_validate(
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "arguments": '{"city":"Oslo"}',
            "sequence_number": 5,
        }
    ),
    ResponseOutputItemDoneEvent.model_validate(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": function_call("completed", '{"city":"Oslo"}'),
            "sequence_number": 6,
        }
    ),
    ResponseCompletedEvent.model_validate(
        {
            "type": "response.completed",
            "response": response(output=[function_call("completed", '{"city":"Oslo"}')]),
            "sequence_number": 7,
        }
    ),
]


@pytest.mark.parametrize("kind", ["sdk", "dict"])
def test_response_text_and_reasoning(kind: str) -> None:
    source = (
        RESPONSE_TEXT
        if kind == "sdk"
        else [e.model_dump(exclude_unset=True) for e in RESPONSE_TEXT]
    )
    assert list(response_events(source)) == [
        ReasoningDelta("Greeting."),
        TextDelta("Hi"),
        TextDelta(" there"),
        USAGE_EVENT,
        Finish("stop"),
    ]


def test_response_function_call_maps_item_id_to_call_id() -> None:
    assert list(response_events(RESPONSE_CALL)) == [
        ToolCallStart("call_w", "weather", 0),
        ToolCallDelta("call_w", '{"city":'),
        ToolCallDelta("call_w", '"Oslo"}'),
        ToolCallEnd("call_w", "weather", '{"city":"Oslo"}'),  # once, not again at item.done
        USAGE_EVENT,
        Finish("tool_calls"),
    ]


def test_async_response_events() -> None:
    async def collect() -> list[AnswerEvent]:
        return [e async for e in aresponse_events(AsyncSource(RESPONSE_CALL))]

    assert run(collect) == list(response_events(RESPONSE_CALL))


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter")],
)
def test_response_incomplete(reason: str, finish: str) -> None:
    events = [
        text_delta("Hi", 1),
        ResponseIncompleteEvent.model_validate(
            {
                "type": "response.incomplete",
                "response": response("incomplete", incomplete_details={"reason": reason}),
                "sequence_number": 2,
            }
        ),
    ]
    assert list(response_events(events)) == [TextDelta("Hi"), USAGE_EVENT, Finish(finish)]


def test_response_refusal() -> None:
    refusal = ResponseRefusalDeltaEvent.model_validate(
        {
            "type": "response.refusal.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "No.",
            "sequence_number": 1,
        }
    )
    assert list(response_events([refusal, RESPONSE_TEXT[-1]])) == [
        Refusal("No."),
        USAGE_EVENT,
        Finish("stop"),
    ]


SECRET = "Incorrect API key provided: sk-proj-abc123"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            ResponseFailedEvent.model_validate(
                {
                    "type": "response.failed",
                    "response": response(
                        "failed", error={"code": "server_error", "message": SECRET}
                    ),
                    "sequence_number": 2,
                }
            ),
            "the model failed the answer (server_error)",
            id="failed",
        ),
        pytest.param(
            ResponseErrorEvent.model_validate(
                {"type": "error", "code": None, "message": SECRET, "sequence_number": 2}
            ),
            "the model failed the answer",
            id="error",
        ),
        pytest.param(
            {"type": "error", "code": SECRET, "message": SECRET, "sequence_number": 2},
            "the model failed the answer",
            id="error-code-not-a-code",
        ),
    ],
)
def test_response_failures_raise_without_quoting_the_upstream(event: Any, message: str) -> None:
    got: list[AnswerEvent] = []
    with pytest.raises(UpstreamError) as info:
        for e in response_events([text_delta("Hi", 1), event]):
            got.append(e)
    assert got == [TextDelta("Hi")]
    assert str(info.value) == message
    assert "sk-" not in str(info.value)


def test_a_response_stream_without_completion_raises() -> None:
    with pytest.raises(UpstreamError, match="without a finish reason"):
        list(response_events(RESPONSE_TEXT[:-1]))
