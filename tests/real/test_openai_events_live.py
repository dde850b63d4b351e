"""Real tier: streamer.llm.openai_events over the real ``openai`` SDK (``AsyncOpenAI`` and
``OpenAI``) and real sockets, against the protocol-accurate fake upstream (tests/fake_openai.py,
in this process): the events stream (the first one arrives while the upstream holds the rest),
the usage comes before the finish, closing the generator closes the upstream connection, and
a cut answer fails after its events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from streamer.adapter import iterate_async
from streamer.errors import UpstreamError
from streamer.llm.events import AnswerEvent, Finish, TextDelta, Usage
from streamer.llm.openai_events import achat_events, chat_events

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
            assert record.tokens_sent == 1
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
