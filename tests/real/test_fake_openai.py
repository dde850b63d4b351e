"""The fake OpenAI server, checked with the real ``openai`` SDK (sync and async) and raw sockets.

The fake is what later tests trust to tell them how the service treats an upstream, so these
tests pin its wire format, its error scenarios as the SDK sees them, and its disconnect records.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from ..fake_openai import FakeOpenAI, FakeRequest, Scenario, expected_reply, fake_model

KEY = "sk-fake-key-for-tests-0123456789"
MESSAGES: list[Any] = [{"role": "user", "content": "héllo wörld, a streamed 🌍 answer"}]
TEXT = MESSAGES[0]["content"]
# The disconnect bound of issue 4: the fake must see the client leave within this.
DISCONNECT_BOUND_S = 0.1


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0, timeout=10) as sdk:
        yield sdk


def _async_client(server: FakeOpenAI, timeout: float = 10) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0, timeout=timeout)


def _only(server: FakeOpenAI) -> FakeRequest:
    [record] = server.wait_requests(1, timeout=5)
    return record


# --- the normal stream -----------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_sync_stream_content_usage_and_chunk_shapes(server: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=fake_model(tokens=7),
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    first, *middle, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    assert len(middle) == 7
    content = "".join(chunk.choices[0].delta.content or "" for chunk in middle)
    assert content == expected_reply(TEXT, tokens=7)
    assert content.startswith("héllo wörld, a streamed 🌍 answer héllo")
    assert all(chunk.choices[0].finish_reason is None for chunk in [first, *middle])
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.content is None
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == 7
    assert usage.usage.total_tokens == usage.usage.prompt_tokens + 7
    assert usage.usage.prompt_tokens_details is not None
    assert usage.usage.completion_tokens_details is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert {chunk.id for chunk in chunks} == {first.id}
    assert first.id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "fake" for c in chunks)
    assert all(c.system_fingerprint and c.service_tier == "default" for c in chunks)

    # The SDK stops reading at [DONE]; the server may still be writing the terminator.
    record = _only(server)
    assert record.wait_done(timeout=5) == "complete"
    assert record.finished and record.tokens_sent == 7
    assert record.headers["authorization"] == f"Bearer {KEY}"


def _raw_exchange(
    port: int, body: bytes, extra: bytes = b"", path: bytes = b"/v1/chat/completions"
) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
            b"authorization: Bearer " + KEY.encode() + b"\r\n"
            b"content-type: application/json\r\n"
            + extra
            + b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        received = b""
        while data := sock.recv(65536):
            received += data
    return received


def _dechunk(body: bytes) -> tuple[list[bytes], bytes]:
    """The HTTP chunks of a chunked body, and what follows the terminator."""
    chunks: list[bytes] = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks, body
        chunks.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


@pytest.mark.timeout(20)
def test_wire_format_matches_the_real_api(server: FakeOpenAI) -> None:
    request = {
        "model": "gpt-4o-mini?tokens=2",
        "messages": [{"role": "user", "content": "a b"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    raw = _raw_exchange(server.port, json.dumps(request).encode())

    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    assert status_line == "HTTP/1.1 200 OK"
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert headers["x-request-id"].startswith("req_")
    assert "openai-processing-ms" in headers

    chunks, trailer = _dechunk(body)
    assert trailer == b"\r\n"  # the terminator 0\r\n\r\n, nothing after it
    # One SSE event per HTTP chunk, each `data: <json>\n\n`.
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"
    events = [json.loads(c[len(b"data: ") :]) for c in chunks[:-1]]
    assert [list(e) for e in events] == [
        [
            "id",
            "object",
            "created",
            "model",
            "service_tier",
            "system_fingerprint",
            "choices",
            "usage",
            "obfuscation",
        ]
    ] * 5
    role, token_a, token_b, finish, usage = events
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert token_a["choices"][0]["delta"] == {"content": "a"}
    assert token_b["choices"][0]["delta"] == {"content": " b"}
    assert finish["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert [e["usage"] for e in events[:-1]] == [None] * 4
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 2,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    assert {e["model"] for e in events} == {"gpt-4o-mini"}


@pytest.mark.timeout(20)
def test_responses_wire_format_named_events_in_sequence(server: FakeOpenAI) -> None:
    request = {"model": "gpt-4.1?tokens=2", "input": "a b", "stream": True}
    raw = _raw_exchange(server.port, json.dumps(request).encode(), path=b"/v1/responses")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/event-stream; charset=utf-8" in head
    chunks, trailer = _dechunk(body)
    assert trailer == b"\r\n"
    # One named SSE event per HTTP chunk: `event: <type>\ndata: <json>\n\n`, no [DONE].
    events = []
    for chunk in chunks:
        event_line, data_line, blank, end = chunk.split(b"\n")
        assert (blank, end) == (b"", b"")
        event = json.loads(data_line.removeprefix(b"data: "))
        assert event_line == b"event: " + event["type"].encode()
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["delta"] for e in events[4:6]] == ["a", " b"]
    completed = events[-1]["response"]
    assert completed["status"] == "completed"
    assert completed["output"][0]["content"][0]["text"] == "a b"
    assert completed["usage"]["output_tokens"] == 2
    assert completed["usage"]["total_tokens"] == completed["usage"]["input_tokens"] + 2


TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
]


@pytest.mark.timeout(20)
def test_tool_calls_scenario_has_the_real_chunk_shapes(server: FakeOpenAI, client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=fake_model(tool_calls=2),
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None
    assert first.tool_calls is not None
    [call] = first.tool_calls
    assert (call.index, call.type) == (0, "function")
    assert call.id is not None and call.id.startswith("call_")
    assert call.function is not None and call.function.name == "search"
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    later = [d[0] for d in deltas[1:] if d]
    second = next(d for d in later if d.index == 1)
    assert second.id is not None and second.id != call.id  # the second call names itself once
    assert all(d.id is None and d.function is not None for d in later if d is not second)
    arguments = {0: "", 1: ""}
    for d in [call, *later]:
        assert d.function is not None
        arguments[d.index] += d.function.arguments or ""
    assert [json.loads(a) for a in arguments.values()] == [{"query": TEXT}] * 2
    finish, usage = chunks[-2:]
    assert finish.choices[0].finish_reason == "tool_calls"
    assert usage.choices == [] and usage.usage is not None
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=fake_model(tool_calls=1), messages=MESSAGES)


@pytest.mark.timeout(20)
def test_tool_calls_fill_the_first_parameter_and_a_tool_result_gets_text(client: OpenAI) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools: Any = [{"type": "function", "function": {"name": "weather", "parameters": schema}}]
    called = client.chat.completions.create(
        model=fake_model(tool_calls=1), messages=MESSAGES, tools=tools
    )
    [call] = called.choices[0].message.tool_calls or []
    assert json.loads(call.model_dump()["function"]["arguments"]) == {"city": TEXT}
    answered = client.chat.completions.create(
        model=fake_model(tool_calls=1),
        messages=[
            *MESSAGES,
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=tools,
    )
    assert answered.choices[0].finish_reason == "stop"
    assert answered.choices[0].message.content == expected_reply(TEXT)


@pytest.mark.timeout(20)
def test_without_include_usage_there_is_no_usage_key(server: FakeOpenAI) -> None:
    request = {
        "model": "fake?tokens=1",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    raw = _raw_exchange(server.port, json.dumps(request).encode())
    chunks, _ = _dechunk(raw.partition(b"\r\n\r\n")[2])
    events = [json.loads(c[len(b"data: ") :]) for c in chunks[:-1]]
    assert len(events) == 3  # role, token, finish
    assert all("usage" not in e and "obfuscation" not in e for e in events)


@pytest.mark.timeout(20)
def test_chunked_request_body_is_accepted(server: FakeOpenAI) -> None:
    body = json.dumps({"model": "fake", "messages": [{"role": "user", "content": "x"}]})
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body.encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\nconnection: close\r\n"
            b"authorization: Bearer " + KEY.encode() + b"\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunked
        )
        raw = b""
        while data := sock.recv(65536):
            raw += data
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["choices"][0]["message"]["content"] == "x"


@pytest.mark.timeout(30)
def test_async_stream_arrives_token_by_token(server: FakeOpenAI) -> None:
    tokens, delay = 10, 0.1

    async def consume() -> list[tuple[float, str]]:
        arrivals = []
        async with _async_client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model=fake_model(tokens=tokens, delay=delay), messages=MESSAGES, stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    arrivals.append((time.monotonic(), chunk.choices[0].delta.content))
        return arrivals

    arrivals = asyncio.run(consume())
    record = _only(server)
    assert "".join(text for _, text in arrivals) == expected_reply(TEXT, tokens=tokens)
    # Streaming, not buffering: the first token was in the client's hands before the server
    # even wrote the last one, and arrivals spread over the generation time.
    assert record.last_token_at is not None
    assert arrivals[0][0] < record.last_token_at
    assert arrivals[-1][0] - arrivals[0][0] >= (tokens - 1) * delay * 0.5
    # The async SDK drains the body after [DONE], so the server finished cleanly.
    assert record.wait_done(timeout=5) == "complete"
    assert not record.disconnected


@pytest.mark.timeout(20)
def test_max_tokens_cuts_the_reply_with_finish_reason_length(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=fake_model(tokens=10), messages=MESSAGES, stream=True, max_tokens=3
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_reply(TEXT, tokens=10, max_tokens=3)
    assert chunks[-1].choices[0].finish_reason == "length"


@pytest.mark.timeout(20)
def test_non_streaming_completion_and_models(server: FakeOpenAI, client: OpenAI) -> None:
    completion = client.chat.completions.create(model="fake?tokens=4", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == expected_reply(TEXT, tokens=4)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4

    assert "fake" in [model.id for model in client.models.list()]
    # Both requests went over one kept-alive connection (the SDK's pool reused it).
    first, second = server.requests
    assert first.connection == second.connection


@pytest.mark.timeout(20)
def test_keep_alive_across_async_streams(server: FakeOpenAI) -> None:
    async def two_streams() -> list[str]:
        texts = []
        async with _async_client(server) as sdk:
            for _ in range(2):
                stream = await sdk.chat.completions.create(
                    model="fake", messages=MESSAGES, stream=True
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                texts.append("".join(parts))
        return texts

    assert asyncio.run(two_streams()) == [expected_reply(TEXT)] * 2
    first, second = server.wait_requests(2, timeout=5)
    assert first.connection == second.connection


# --- errors on demand ------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_wrong_key_is_401_with_the_real_error_body(server: FakeOpenAI) -> None:
    bad = OpenAI(api_key="sk-wrong-key-abcdxyz", base_url=server.base_url, max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="fake", messages=MESSAGES, stream=True)
    assert info.value.status_code == 401
    assert info.value.body == {
        "message": "Incorrect API key provided: sk-*************dxyz. You can find your API "
        "key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert "sk-wrong-key" not in str(info.value)


@pytest.mark.timeout(20)
def test_missing_key_is_401(server: FakeOpenAI) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n")
        raw = b""
        while data := sock.recv(65536):
            raw += data
    assert raw.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    error = json.loads(raw.partition(b"\r\n\r\n")[2])["error"]
    assert error["message"].startswith("You didn't provide an API key.")
    assert error["code"] is None


@pytest.mark.timeout(20)
def test_rate_limit_is_429_with_retry_after(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(
            model=fake_model(fail=429, retry_after=7), messages=MESSAGES, stream=True
        )
    headers = info.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.timeout(20)
def test_server_error_is_500(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=fake_model(fail=500), messages=MESSAGES, stream=True)
    assert info.value.status_code == 500
    assert info.value.type == "server_error"


@pytest.mark.timeout(20)
def test_fail_401_scenario_and_bad_scenarios(client: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="fake?fail=401", messages=MESSAGES, stream=True)
    with pytest.raises(openai.BadRequestError, match="unknown fake option 'tokenz'"):
        client.chat.completions.create(model="fake?tokenz=3", messages=MESSAGES, stream=True)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        pytest.param("gpt-4o", Scenario(name="gpt-4o"), id="plain"),
        pytest.param(
            "fake?tokens=50&delay=0.02&fail=429&retry_after=7",
            Scenario(tokens=50, delay=0.02, fail=429, retry_after="7"),
            id="options",
        ),
        pytest.param(
            "fake?hang=after_headers&hang_s=1.5",
            Scenario(hang="after_headers", hang_s=1.5),
            id="hang",
        ),
    ],
)
def test_scenario_parse(model: str, expected: Scenario) -> None:
    assert Scenario.parse(model) == expected


@pytest.mark.parametrize(
    "model",
    ["fake?tokens=-1", "fake?fail=200", "fake?hang=forever", "fake?delay=inf", "fake?x=1"],
)
def test_scenario_parse_rejects(model: str) -> None:
    with pytest.raises(ValueError, match="fake option"):
        Scenario.parse(model)


@pytest.mark.timeout(20)
def test_cut_mid_answer_raises_a_connection_error_sync(server: FakeOpenAI, client: OpenAI) -> None:
    received: list[str] = []
    stream = client.chat.completions.create(model=fake_model(cut=3), messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    # httpx2 sees the chunked body end early; the SDK wraps it as APIConnectionError.
    assert type(info.value) is openai.APIConnectionError
    assert "incomplete chunked read" in str(info.value.__cause__)
    assert "".join(received) == expected_reply(TEXT, tokens=3)
    record = _only(server)
    assert record.outcome == "cut" and record.closed_by == "server"
    assert not record.finished and record.tokens_sent == 3


@pytest.mark.timeout(20)
def test_cut_mid_answer_raises_a_connection_error_async(server: FakeOpenAI) -> None:
    async def consume() -> list[str]:
        received: list[str] = []
        async with _async_client(server) as sdk:
            stream = await sdk.chat.completions.create(
                model=fake_model(cut=2, delay=0.01), messages=MESSAGES, stream=True
            )
            with pytest.raises(openai.APIConnectionError):
                async for chunk in stream:
                    received.append(chunk.choices[0].delta.content or "")
        return received

    assert "".join(asyncio.run(consume())) == expected_reply(TEXT, tokens=2)


@pytest.mark.timeout(20)
def test_in_band_error_event_raises_api_error(server: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=fake_model(error=2), messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError, match="had an error") as info:
        list(stream)
    assert type(info.value) is openai.APIError
    assert _only(server).wait_done(timeout=5) == "error"


# --- hangs, timeouts and disconnects ----------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("where", ["before_headers", "after_headers"])
def test_hang_times_out_and_the_fake_sees_the_client_leave(server: FakeOpenAI, where: str) -> None:
    with OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0, timeout=0.5) as sdk:
        with pytest.raises(openai.APITimeoutError):
            stream = sdk.chat.completions.create(
                model=fake_model(hang=where), messages=MESSAGES, stream=True
            )
            # after_headers: create() returned at the 200; the wait for a token times out.
            assert where == "after_headers"
            list(stream)
        gave_up_at = time.monotonic()
        record = _only(server)
        closed_at = record.wait_closed(timeout=5)
    assert closed_at - gave_up_at < DISCONNECT_BOUND_S
    assert record.disconnected and record.outcome == "client_gone"
    assert record.status == (200 if where == "after_headers" else None)
    assert record.tokens_sent == 0


@pytest.mark.timeout(20)
def test_hang_with_hang_s_ends_and_streams_normally(client: OpenAI) -> None:
    started = time.monotonic()
    chunks = list(
        client.chat.completions.create(
            model=fake_model(hang="after_headers", hang_s=0.3), messages=MESSAGES, stream=True
        )
    )
    assert time.monotonic() - started >= 0.3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected_reply(TEXT)


@pytest.mark.timeout(20)
def test_hold_stops_after_the_first_token_until_released(
    server: FakeOpenAI, client: OpenAI
) -> None:
    stream = client.chat.completions.create(
        model=fake_model(tokens=4, hold="h1"), messages=MESSAGES, stream=True
    )
    record = _only(server)
    assert record.wait_tokens(1, timeout=5) == 1
    time.sleep(0.3)  # held: nothing more comes, however long it waits
    assert record.tokens_sent == 1 and not record.finished
    server.release("h1")
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == expected_reply(TEXT, tokens=4)


@pytest.mark.timeout(20)
def test_client_closing_mid_stream_is_recorded_within_bound(
    server: FakeOpenAI, client: OpenAI
) -> None:
    stream = client.chat.completions.create(
        model=fake_model(tokens=500, delay=0.02), messages=MESSAGES, stream=True
    )
    seen = 0
    for chunk in stream:
        seen += bool(chunk.choices[0].delta.content)
        if seen == 5:
            break
    left_at = time.monotonic()
    stream.close()
    record = _only(server)
    closed_at = record.wait_closed(timeout=5)
    assert closed_at - left_at < DISCONNECT_BOUND_S
    assert record.disconnected and record.outcome == "client_gone"
    # Generation stopped: no more tokens after the client left.
    sent = record.tokens_sent
    time.sleep(0.1)
    assert record.tokens_sent == sent < 500


@pytest.mark.timeout(20)
def test_client_closing_while_the_model_is_silent(server: FakeOpenAI, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=fake_model(hang="after_headers"), messages=MESSAGES, stream=True
    )
    record = _only(server)
    time.sleep(0.2)  # the server is idle, waiting: no write would reveal the close
    left_at = time.monotonic()
    stream.close()
    assert record.wait_closed(timeout=5) - left_at < DISCONNECT_BOUND_S
    assert record.disconnected


@pytest.mark.timeout(20)
def test_cancelling_an_async_request_before_headers(server: FakeOpenAI) -> None:
    def hanging() -> FakeRequest | None:
        records = server.requests
        return records[0] if records and records[0].scenario is not None else None

    async def cancel_while_hanging() -> tuple[float, FakeRequest]:
        async with _async_client(server) as sdk:
            task = asyncio.ensure_future(
                sdk.chat.completions.create(
                    model=fake_model(hang="before_headers"), messages=MESSAGES, stream=True
                )
            )
            # Wait in a thread: blocking this loop would keep the request from being sent.
            record = await asyncio.to_thread(server.wait_for, hanging, 5)
            await asyncio.sleep(0.1)
            left_at = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return left_at, record

    left_at, record = asyncio.run(cancel_while_hanging())
    assert record.wait_closed(timeout=5) - left_at < DISCONNECT_BOUND_S
    assert record.disconnected and record.status is None


# --- scale and lifecycle ---------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_200_concurrent_streams_flow_at_once(server: FakeOpenAI) -> None:
    count, tokens = 200, 20

    async def one(sdk: AsyncOpenAI, i: int) -> str:
        stream = await sdk.chat.completions.create(
            model=fake_model(tokens=tokens, delay=0.1),
            messages=[{"role": "user", "content": f"stream {i} says hi"}],
            stream=True,
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def all_streams() -> list[str]:
        async with _async_client(server, timeout=60) as sdk:
            return await asyncio.gather(*(one(sdk, i) for i in range(count)))

    texts = asyncio.run(all_streams())
    assert texts == [expected_reply(f"stream {i} says hi", tokens=tokens) for i in range(count)]
    records = server.requests
    assert len(records) == count
    assert len({r.connection for r in records}) == count
    # All 200 were being served at once: every first token went out before any stream ended.
    first_tokens = [r.first_token_at for r in records if r.first_token_at is not None]
    ends = [r.finished_at for r in records if r.finished_at is not None]
    assert len(first_tokens) == len(ends) == count
    assert max(first_tokens) < min(ends)


@pytest.mark.timeout(20)
def test_introspection_over_http(server: FakeOpenAI, client: OpenAI) -> None:
    client.chat.completions.create(model="fake?tokens=1", messages=MESSAGES)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /_fake/requests HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n")
        raw = b""
        while data := sock.recv(65536):
            raw += data
    records = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert records[0]["outcome"] == "complete"
    assert records[0]["scenario"]["tokens"] == 1
    assert records[1]["path"] == "/_fake/requests"


@pytest.mark.timeout(30)
def test_close_with_open_streams_stops_cleanly() -> None:
    threads_before = threading.active_count()
    fake = FakeOpenAI(api_key=KEY).start()
    port = fake.port
    sdk = OpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0, timeout=10)
    stream = sdk.chat.completions.create(
        model=fake_model(hang="after_headers"), messages=MESSAGES, stream=True
    )
    started = time.monotonic()
    fake.close()
    assert time.monotonic() - started < 5
    assert threading.active_count() == threads_before
    assert fake.requests[0].outcome == "aborted"
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    stream.close()
    sdk.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    fake.close()  # idempotent
    assert fake.errors == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_raw_close_while_hanging_is_seen_at_once(server: FakeOpenAI, how: str) -> None:
    body = json.dumps(
        {"model": "fake?hang=before_headers", "messages": MESSAGES, "stream": True}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\n"
            b"authorization: Bearer " + KEY.encode() + b"\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        record = _only(server)
        server.wait_for(lambda: record.scenario, timeout=5)
        if how == "rst":  # SO_LINGER 0: close() sends a reset instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        left_at = time.monotonic()
    assert record.wait_closed(timeout=5) - left_at < DISCONNECT_BOUND_S
    assert record.disconnected and record.outcome == "client_gone"
