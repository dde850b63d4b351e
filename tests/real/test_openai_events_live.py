"""Real tier: streamer.llm.openai_events over the real ``openai`` SDK (``AsyncOpenAI`` and
``OpenAI``) and real sockets, against the protocol-accurate fake upstream (tests/fake_openai.py,
in this process): the events stream (the first one arrives while the upstream holds the rest),
the usage comes before the finish, closing the generator closes the upstream connection, and
a cut answer fails after its events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from streamer.adapter import iterate_async
from streamer.errors import StreamTimeout, UpstreamError
from streamer.llm.events import (
    AnswerEvent,
    Finish,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamer.llm.openai_events import (
    achat_events,
    aresponse_events,
    chat_events,
    response_events,
)

from ..fake_openai import FakeOpenAI, expected_reply, fake_model, reply_tokens

pytestmark = pytest.mark.real

KEY = "sk-fake-key-for-events-0123456789"
PROMPT = "events from the real SDK stream one by one"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake
    assert fake.errors == []


def _create_kwargs(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.timeout(20)
def test_async_sdk_events_stream_before_the_upstream_ends(upstream: FakeOpenAI) -> None:
    async def run() -> tuple[AnswerEvent, list[AnswerEvent]]:
        async with AsyncOpenAI(
            api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10
        ) as client:
            chunks = await client.chat.completions.create(**_create_kwargs(fake_model(hold="h")))
            events = achat_events(chunks)
            first = await asyncio.wait_for(anext(events), 5)
            # The fake holds after its first token: the rest (finish, usage, [DONE]) is unsent.
            [record] = upstream.requests
            assert await asyncio.to_thread(record.wait_tokens, 1, 5) == 1
            assert not record.finished
            upstream.release("h")
            rest = [event async for event in events]
            return first, rest

    first, rest = asyncio.run(asyncio.wait_for(run(), 15))
    tokens = reply_tokens(PROMPT)
    assert first == TextDelta(tokens[0])
    *texts, usage, finish = rest
    assert [first, *texts] == [TextDelta(t) for t in tokens]
    assert "".join(t.text for t in texts) == expected_reply(PROMPT)[len(tokens[0]) :]
    assert isinstance(usage, Usage)
    assert usage.completion_tokens == len(tokens)
    assert usage.prompt_tokens > 0
    assert "prompt_tokens_details" in usage.extra
    assert finish == Finish("stop")


@pytest.mark.timeout(20)
def test_sync_sdk_events_and_length_finish(upstream: FakeOpenAI) -> None:
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        chunks = client.chat.completions.create(
            **_create_kwargs(fake_model(tokens=5)), max_tokens=3
        )
        events = list(chat_events(chunks))
    assert [type(e) for e in events] == [TextDelta] * 3 + [Usage, Finish]
    assert events[-1] == Finish("length")


@pytest.mark.timeout(20)
def test_closing_the_generator_closes_the_upstream_connection(upstream: FakeOpenAI) -> None:
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        chunks = client.chat.completions.create(**_create_kwargs(fake_model(hold="never")))
        events = chat_events(chunks)
        assert isinstance(next(events), TextDelta)
        [record] = upstream.requests
        left_at = time.monotonic()
        events.close()  # what streamer's engine does when the client leaves
        closed_at = record.wait_closed(timeout=5)
    assert closed_at - left_at < 1.0
    assert record.closed_by == "client"
    assert not record.finished


@pytest.mark.timeout(20)
def test_async_close_closes_the_upstream_connection(upstream: FakeOpenAI) -> None:
    async def run() -> float:
        async with AsyncOpenAI(
            api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10
        ) as client:
            chunks = await client.chat.completions.create(**_create_kwargs(fake_model(hold="x")))
            events = achat_events(chunks)
            assert isinstance(await anext(events), TextDelta)
            [record] = upstream.requests
            left_at = time.monotonic()
            await events.aclose()
            # Still inside the client's context: its pool has not closed the connection.
            closed_at = await asyncio.to_thread(record.wait_closed, 5)
            assert record.closed_by == "client"
            return closed_at - left_at

    assert asyncio.run(asyncio.wait_for(run(), 15)) < 1.0


@pytest.mark.timeout(20)
def test_a_cut_answer_raises_after_its_events(upstream: FakeOpenAI) -> None:
    got: list[AnswerEvent] = []
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        chunks = client.chat.completions.create(**_create_kwargs(fake_model(tokens=5, cut=2)))
        with pytest.raises(UpstreamError, match="broke off") as info:
            for event in chat_events(chunks):
                got.append(event)
    assert got == [TextDelta(t) for t in reply_tokens(PROMPT, 5)[:2]]
    assert info.value.type == "upstream_disconnected"


@pytest.mark.timeout(20)
def test_through_the_adapter_as_stream_runs_an_async_producer(upstream: FakeOpenAI) -> None:
    # stream(answer()) bridges an async generator with iterate_async (server/streaming.py);
    # the producer runs on the bridge loop, where the client is built. Closing the sync side
    # (the engine does when the client leaves) reaches the SDK's stream through aclose().
    async def answer() -> AsyncIterator[AnswerEvent]:
        async with AsyncOpenAI(
            api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10
        ) as client:
            chunks = await client.chat.completions.create(**_create_kwargs(fake_model(hold="b")))
            async for event in achat_events(chunks):
                yield event

    with iterate_async(answer) as events:
        assert next(events) == TextDelta(reply_tokens(PROMPT)[0])
        [record] = upstream.requests
        assert not record.finished  # held after the first token: the event came first
        left_at = time.monotonic()
    assert record.wait_closed(timeout=5) - left_at < 1.0
    assert record.closed_by == "client"
    assert not record.finished


@pytest.mark.timeout(20)
def test_a_silent_upstream_is_a_stream_timeout(upstream: FakeOpenAI) -> None:
    # The 200 comes, then nothing: the SDK's read timeout, from the iteration.
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=0.5) as client:
        chunks = client.chat.completions.create(**_create_kwargs(fake_model(hang="after_headers")))
        with pytest.raises(StreamTimeout) as info:
            list(chat_events(chunks))
    assert info.value.type == "upstream_timeout"
    # What the SDK raised, matched by name in openai_events (which does not import openai):
    assert type(info.value.__context__).__name__ == "APITimeoutError"
    assert info.value.__suppress_context__  # and not shown with the error


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    for name in ("search", "lookup")
]


@pytest.mark.timeout(20)
def test_parallel_tool_calls_through_the_sdk(upstream: FakeOpenAI) -> None:
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        chunks = client.chat.completions.create(
            **_create_kwargs(fake_model(tool_calls=2)), tools=TOOLS
        )
        events = list(chat_events(chunks))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [(s.name, s.index) for s in starts] == [("search", 0), ("lookup", 1)]
    assert len({s.id for s in starts}) == 2
    assert [(e.id, e.name) for e in ends] == [(s.id, s.name) for s in starts]
    for end in ends:
        assert json.loads(end.arguments) == {"query": PROMPT}
        pieces = [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.id == end.id]
        assert len(pieces) > 1 and "".join(pieces) == end.arguments
    assert not any(isinstance(e, TextDelta) for e in events)
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finish("tool_calls")
    assert events.index(ends[-1]) < events.index(events[-2])  # calls end before the usage


# -- the Responses API -----------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_response_events_stream_before_the_upstream_ends(upstream: FakeOpenAI) -> None:
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        source = client.responses.create(model=fake_model(hold="r"), input=PROMPT, stream=True)
        events = response_events(source)
        first = next(events)
        [record] = upstream.requests
        assert record.wait_tokens(1, timeout=5) == 1
        assert not record.finished  # held after the first delta
        upstream.release("r")
        rest = list(events)
    tokens = reply_tokens(PROMPT)
    *texts, usage, finish = [first, *rest]
    assert texts == [TextDelta(t) for t in tokens]
    assert isinstance(usage, Usage) and usage.completion_tokens == len(tokens)
    assert usage.extra["output_tokens_details"] == {"reasoning_tokens": 0}
    assert finish == Finish("stop")


@pytest.mark.timeout(20)
def test_response_function_calls_through_the_async_sdk(upstream: FakeOpenAI) -> None:
    tools = [{"type": "function", "name": t["function"]["name"], "parameters": {}} for t in TOOLS]

    async def run() -> list[AnswerEvent]:
        async with AsyncOpenAI(
            api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10
        ) as client:
            source = await client.responses.create(
                model=fake_model(tool_calls=2), input=PROMPT, tools=tools, stream=True
            )
            return [event async for event in aresponse_events(source)]

    events = asyncio.run(asyncio.wait_for(run(), 15))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [(s.name, s.index) for s in starts] == [("search", 0), ("lookup", 1)]
    assert all(s.id.startswith("call_") for s in starts)  # call_id, not the item's fc_ id
    assert [e.id for e in ends] == [s.id for s in starts]
    for end in ends:
        pieces = [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.id == end.id]
        assert "".join(pieces) == end.arguments
        assert json.loads(end.arguments) == {"query": PROMPT}
    assert isinstance(events[-2], Usage)
    assert events[-1] == Finish("tool_calls")


@pytest.mark.timeout(20)
def test_response_incomplete_and_failed(upstream: FakeOpenAI) -> None:
    with OpenAI(api_key=KEY, base_url=upstream.base_url, max_retries=0, timeout=10) as client:
        cut_short = client.responses.create(
            model=fake_model(tokens=5), input=PROMPT, max_output_tokens=2, stream=True
        )
        events = list(response_events(cut_short))
        assert [type(e) for e in events] == [TextDelta, TextDelta, Usage, Finish]
        assert events[-1] == Finish("length")

        failing = client.responses.create(model=fake_model(error=2), input=PROMPT, stream=True)
        got: list[AnswerEvent] = []
        with pytest.raises(UpstreamError) as info:
            for event in response_events(failing):
                got.append(event)
    assert got == [TextDelta(t) for t in reply_tokens(PROMPT)[:2]]
    assert str(info.value) == "the model failed the answer (server_error)"
