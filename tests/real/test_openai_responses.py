"""Real tier: OpenAI's Responses API on streamer's /v1 under gunicorn (gevent workers), read
by the official ``openai`` Python SDK: the echo provider, the openai provider over the fake
upstream (tests/fake_openai.py, in this process, speaking chat completions), and background
responses resumed on another instance through Redis."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
import requests
from openai import OpenAI

from ..conftest import Server
from ..fake_openai import FakeOpenAI, FakeRequest, expected_reply, fake_model
from ..gateway_fixture import gateway_over
from ..redis_fixture import RedisServer, redis_server

__all__ = ["redis_server"]  # a fixture, imported for pytest

pytestmark = pytest.mark.real

UPSTREAM_KEY = "sk-upstream-secret-responses-0123456789"
CLIENT_KEY = "sk-client-key-responses-0123456789"
PROMPT = "streaming answers token by token through the gateway"
ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def echo_server(tmp_path_factory: pytest.TempPathFactory, per_key: int) -> Iterator[Server]:
    srv = Server(
        {
            "STREAMER_API_KEYS": CLIENT_KEY,
            "STREAMER_MAX_STREAMS_PER_KEY": str(per_key),
            "STREAMER_ECHO_DELAY_S": "0.05",
            "STREAMER_HEARTBEAT_S": "0.5",
            "STREAMER_CHAT_MODEL": "echo-1",
        },
        tmp_path_factory.mktemp("responses-echo") / "gunicorn.log",
    )
    yield srv
    srv.stop()
    assert CLIENT_KEY not in srv.log(), "a client key reached a log line"


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The echo provider, with client keys. Its per-key limit is well above what a test
    holds: background responses of earlier tests may still be running (and holding slots)."""
    yield from echo_server(tmp_path_factory, per_key=64)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The echo provider with a per-key limit of 2, for the one test of that limit."""
    yield from echo_server(tmp_path_factory, per_key=2)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake
        assert not fake.errors


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The openai provider over the fake upstream's chat completions; no client keys."""
    with gateway_over(upstream, tmp_path_factory, UPSTREAM_KEY, STREAMER_HEARTBEAT_S="0.3") as srv:
        yield srv


_clients: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def sdk(server: Server, key: str = CLIENT_KEY, **options: Any) -> OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 30)
    client = OpenAI(api_key=key, base_url=server.url("/v1"), **options)
    _clients.append(client)
    return client


def collapse(types: list[str]) -> list[str]:
    """The event types with runs of one type (the deltas) as one."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


def text_of(response: Any) -> str:
    return "".join(
        part.text
        for item in response.output
        if item.type == "message"
        for part in item.content
        if part.type == "output_text"
    )


def upstream_request(upstream: FakeOpenAI, model: str, before: int) -> FakeRequest:
    return upstream.wait_for(
        lambda: next((r for r in upstream.requests[before:] if r.model == model), None),
        10,
        f"the upstream request for {model}",
    )


# -- streamed and whole, on the echo provider ---------------------------------------------------


@pytest.mark.timeout(60)
def test_sdk_reads_the_events_in_order_and_the_first_before_the_producer_ends(
    echo: Server,
) -> None:
    stream = sdk(echo).responses.create(model="echo-1", input=PROMPT, stream=True)
    events, times = [], []
    for event in stream:
        events.append(event)
        times.append(time.monotonic())
    assert collapse([e.type for e in events]) == ORDER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 15
    done = events[-1].response
    assert done.status == "completed" and done.id.startswith("resp_")
    assert text_of(done) == "".join(deltas) and PROMPT in text_of(done)
    assert done.usage is not None and done.usage.output_tokens == len(deltas)
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert {e.response.id for e in events if hasattr(e, "response")} == {done.id}
    # ~20 tokens 50 ms apart: the first event came while the producer had most left to do.
    assert times[-1] - times[0] > 0.5


@pytest.mark.timeout(60)
def test_a_whole_response_is_what_the_streams_completed_event_carries(echo: Server) -> None:
    client = sdk(echo)
    whole = client.responses.create(
        model="echo-1",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        instructions="be brief",
        metadata={"case": "whole"},
        temperature=0.5,
    )
    streamed = list(
        client.responses.create(
            model="echo-1",
            input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
            instructions="be brief",
            metadata={"case": "whole"},
            temperature=0.5,
            stream=True,
        )
    )[-1].response
    assert whole.object == "response" and whole.status == "completed"
    assert whole.output_text == streamed.output_text and PROMPT in whole.output_text
    ignore = {"id", "created_at", "completed_at", "output"}
    assert {k: v for k, v in whole.model_dump().items() if k not in ignore} == {
        k: v for k, v in streamed.model_dump().items() if k not in ignore
    }
    assert whole.instructions == "be brief" and whole.metadata == {"case": "whole"}
    assert whole.temperature == 0.5


@pytest.mark.timeout(60)
def test_the_sdks_stream_helper_accumulates_the_final_response(echo: Server) -> None:
    # client.responses.stream() rebuilds the response from the events, item by item: it
    # fails on an event that names an item or part it was not told about.
    with sdk(echo).responses.stream(model="echo-1", input=PROMPT) as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed" and final.output_text == "".join(texts)
    with sdk(echo).responses.stream(model="echo-1", input=PROMPT, tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "function_call" and PROMPT in final.output[0].arguments


@pytest.mark.timeout(60)
def test_function_tools_come_back_as_function_call_items(echo: Server) -> None:
    client = sdk(echo)
    events = list(
        client.responses.create(model="echo-1", input=PROMPT, tools=[WEATHER], stream=True)
    )
    types = collapse([e.type for e in events])
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (call,) = events[-1].response.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == pieces and PROMPT in call.arguments
    # The tool loop: the call and its output sent back get a text answer.
    answer = client.responses.create(
        model="echo-1",
        input=[
            {"role": "user", "content": PROMPT},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert "sunny" in answer.output_text


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        pytest.param({"input": []}, "input", id="empty-input"),
        pytest.param(
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0]",
            id="image-part",
        ),
        pytest.param({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", id="role"),
        pytest.param({"temperature": 3}, "temperature", id="temperature"),
        pytest.param({"top_p": -1}, "top_p", id="top-p"),
        pytest.param({"max_output_tokens": 0}, "max_output_tokens", id="max-output-tokens"),
        pytest.param({"previous_response_id": "resp_123"}, "previous_response_id", id="previous"),
        pytest.param({"tools": [{"type": "web_search"}]}, "tools[0].type", id="builtin-tool"),
        pytest.param({"background": True, "store": False}, "background", id="background-nostore"),
        pytest.param({"reasoning": {"effort": "low"}}, "reasoning", id="unsupported"),
    ],
)
def test_bad_input_is_a_400_naming_the_param(
    echo: Server, extra: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {"model": "echo-1", "input": PROMPT, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        sdk(echo).responses.create(**body)
    assert info.value.status_code == 400
    assert isinstance(info.value.body, dict) and info.value.body["param"] == param


@pytest.mark.timeout(60)
def test_keys_apply_and_unknown_ids_are_404(echo: Server) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(echo, "sk-wrong-key-000000000").responses.create(model="echo-1", input=PROMPT)
    with pytest.raises(openai.NotFoundError):
        sdk(echo).responses.retrieve("resp_" + "0" * 48)
    with pytest.raises(openai.NotFoundError):
        sdk(echo).responses.cancel("resp_nope")
    not_json = requests.post(
        echo.url("/v1/responses"),
        data=b"{",
        headers={"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert not_json.status_code == 400 and set(not_json.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }


@pytest.mark.timeout(60)
def test_the_per_key_stream_limit_applies(limited: Server) -> None:
    client = sdk(limited)
    held = [client.responses.create(model="echo-1", input=PROMPT, stream=True) for _ in range(2)]
    try:
        for stream in held:
            assert next(iter(stream)).type == "response.created"
        with pytest.raises(openai.RateLimitError) as info:
            client.responses.create(model="echo-1", input=PROMPT, stream=True)
        assert info.value.code == "too_many_streams_for_key"
    finally:
        for stream in held:
            stream.close()


# -- background responses ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_background_response_is_retrieved_whole_and_resumed_after_n(echo: Server) -> None:
    client = sdk(echo)
    queued = client.responses.create(model="echo-1", input=PROMPT, background=True)
    assert queued.status == "queued" and queued.background is True
    first = list(client.responses.retrieve(queued.id, stream=True))
    assert collapse([e.type for e in first]) == ORDER
    assert [e.sequence_number for e in first] == list(range(len(first)))
    after = client.responses.retrieve(queued.id, stream=True, starting_after=6)
    rest = list(after)
    assert [e.sequence_number for e in rest] == list(range(7, len(first)))
    assert [e.model_dump() for e in rest] == [e.model_dump() for e in first[7:]]
    done = client.responses.retrieve(queued.id)
    assert done.status == "completed" and done.output_text == first[-1].response.output_text


@pytest.mark.timeout(60)
def test_a_background_stream_is_the_same_stream_on_a_resume(echo: Server) -> None:
    client = sdk(echo)
    stream = client.responses.create(model="echo-1", input=PROMPT, background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.sequence_number == 5:
            break
    stream.close()  # the connection goes; the response goes on
    response_id = seen[0].response.id
    assert client.responses.retrieve(response_id).status in ("in_progress", "completed")
    rest = list(client.responses.retrieve(response_id, stream=True, starting_after=5))
    events = seen + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert PROMPT in events[-1].response.output_text


# -- the openai provider: failures, cancel ------------------------------------------------------


@pytest.mark.timeout(60)
def test_openai_provider_streams_the_upstreams_text(gateway: Server) -> None:
    model = fake_model(tokens=8, delay=0.01)
    events = list(sdk(gateway).responses.create(model=model, input=PROMPT, stream=True))
    assert collapse([e.type for e in events]) == ORDER
    assert events[-1].response.output_text == expected_reply(PROMPT, tokens=8)
    assert events[-1].response.usage.output_tokens == 8


@pytest.mark.timeout(60)
def test_openai_provider_parallel_tool_calls_are_function_call_items(gateway: Server) -> None:
    model = fake_model(tool_calls=2, delay=0.01)
    events = list(
        sdk(gateway).responses.create(model=model, input=PROMPT, tools=[WEATHER], stream=True)
    )
    calls = events[-1].response.output
    assert [c.type for c in calls] == ["function_call", "function_call"]
    assert len({c.call_id for c in calls}) == 2 and {c.name for c in calls} == {"get_weather"}
    for index, call in enumerate(calls):
        pieces = [
            e.delta
            for e in events
            if e.type == "response.function_call_arguments.delta" and e.output_index == index
        ]
        assert "".join(pieces) == call.arguments and PROMPT in call.arguments
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == [c.arguments for c in calls]


@pytest.mark.timeout(60)
def test_an_upstream_failure_before_the_first_token_is_a_real_status(gateway: Server) -> None:
    with pytest.raises(openai.RateLimitError):
        sdk(gateway).responses.create(model=fake_model(fail=429), input=PROMPT, stream=True)


@pytest.mark.timeout(60)
def test_a_failure_mid_stream_is_response_failed_then_a_cut_body(gateway: Server) -> None:
    events: list[Any] = []
    stream = sdk(gateway).responses.create(
        model=fake_model(tokens=10, delay=0.01, cut=3), input=PROMPT, stream=True
    )
    with pytest.raises((openai.APIConnectionError, httpx2.RemoteProtocolError)):
        for event in stream:
            events.append(event)
    assert events[-1].type == "response.failed", [e.type for e in events]
    assert not [e for e in events if e.type == "response.completed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert failed.output_text == expected_reply(PROMPT, tokens=3)
    assert events[-1].sequence_number == events[-2].sequence_number + 1


@pytest.mark.timeout(60)
def test_heartbeats_in_a_silence_do_not_disturb_the_sdk(gateway: Server) -> None:
    model = fake_model(tokens=3, delay=0.8)  # silences longer than the 0.3 s heartbeat
    raw = requests.post(
        gateway.url("/v1/responses"),
        json={"model": model, "input": PROMPT, "stream": True},
        timeout=30,
    )
    assert b": ping\n" in raw.content
    events = list(sdk(gateway).responses.create(model=model, input=PROMPT, stream=True))
    assert collapse([e.type for e in events]) == ORDER
    assert events[-1].response.output_text == expected_reply(PROMPT, tokens=3)


@pytest.mark.timeout(60)
def test_a_background_failure_is_stored_as_failed(gateway: Server) -> None:
    client = sdk(gateway)
    started = client.responses.create(
        model=fake_model(tokens=10, delay=0.01, error=3), input=PROMPT, background=True
    )
    deadline = time.monotonic() + 20
    while (found := client.responses.retrieve(started.id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert found.status == "failed" and found.error is not None
    assert found.output_text == expected_reply(PROMPT, tokens=3)
    events: list[Any] = []
    with pytest.raises((openai.APIConnectionError, httpx2.RemoteProtocolError)):
        for event in client.responses.retrieve(started.id, stream=True):
            events.append(event)
    assert events[-1].type == "response.failed"
    assert events[-1].response.model_dump() == found.model_dump()


@pytest.mark.timeout(60)
def test_a_whole_response_whose_client_times_out_closes_the_upstream(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(tokens=100, delay=0.05)
    before = len(upstream.requests)
    with pytest.raises(openai.APITimeoutError):
        sdk(gateway, timeout=0.5).responses.create(model=model, input=PROMPT)
    gone = time.monotonic()
    record = upstream_request(upstream, model, before)
    assert record.wait_closed(timeout=5) - gone < 0.5 and record.disconnected


@pytest.mark.timeout(60)
def test_cancel_stops_the_upstream_and_the_response_ends_cancelled(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    client = sdk(gateway)
    model = fake_model(tokens=200, delay=0.05)
    before = len(upstream.requests)
    queued = client.responses.create(model=model, input=PROMPT, background=True)
    record = upstream_request(upstream, model, before)
    record.wait_tokens(3, timeout=10)
    assert record.closed_at is None
    cancelling = time.monotonic()
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"
    assert record.wait_closed(timeout=5) - cancelling < 1.0 and record.disconnected
    assert record.tokens_sent < 200
    assert client.responses.retrieve(queued.id).status == "cancelled"
    events = list(client.responses.retrieve(queued.id, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "cancelled"
    assert not [e for e in events if e.type == "response.completed"]
    # Cancelling again says so; a completed response cannot be cancelled.
    assert client.responses.cancel(queued.id).status == "cancelled"
    done = client.responses.create(model=fake_model(tokens=2), input=PROMPT, background=True)
    while client.responses.retrieve(done.id).status != "completed":
        time.sleep(0.05)
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(done.id)


@pytest.mark.timeout(60)
def test_a_client_that_leaves_a_plain_stream_closes_the_upstream(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(tokens=200, delay=0.05)
    before = len(upstream.requests)
    stream = sdk(gateway).responses.create(model=model, input=PROMPT, stream=True)
    for event in stream:
        if event.type == "response.output_text.delta":
            break
    record = upstream_request(upstream, model, before)
    leaving = time.monotonic()
    stream.close()
    assert record.wait_closed(timeout=5) - leaving < 0.5 and record.disconnected


# -- across instances, on Redis ------------------------------------------------------------------


@pytest.fixture
def pair(make_server: Any, redis_server: RedisServer) -> tuple[Server, Server]:
    """Two instances of two workers each on one Redis."""
    env = {
        "REDIS_URL": redis_server.url,
        "STREAMER_ECHO_DELAY_S": "0.05",
        "STREAMER_HEARTBEAT_S": "0.5",
        "STREAMER_CHAT_MODEL": "echo-1",
    }
    return make_server(env, workers=2), make_server(env, workers=2)


@pytest.mark.timeout(90)
def test_a_background_response_resumes_on_another_instance_with_every_event_once(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    started = sdk(a, "unused").responses.create(
        model="echo-1", input=PROMPT, background=True, stream=True
    )
    seen = []
    for event in started:
        seen.append(event)
        if event.sequence_number == 8:
            break
    started.close()
    response_id = seen[0].response.id
    other = sdk(b, "unused")
    rest = list(other.responses.retrieve(response_id, stream=True, starting_after=8))
    events = seen + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert collapse([e.type for e in events]) == ORDER
    whole = other.responses.retrieve(response_id)
    assert whole.status == "completed" and PROMPT in whole.output_text
    assert whole.output_text == "".join(
        e.delta for e in events if e.type == "response.output_text.delta"
    )
    # Every worker of either instance answers for it.
    for _ in range(4):
        assert sdk(a, "unused").responses.retrieve(response_id).id == response_id


@pytest.mark.timeout(90)
def test_a_cancel_on_another_instance_stops_the_producer(pair: tuple[Server, Server]) -> None:
    a, b = pair
    client_a, client_b = sdk(a, "unused"), sdk(b, "unused")
    started = client_a.responses.create(model="echo-1", input=PROMPT, background=True)
    stream = client_b.responses.retrieve(started.id, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta" and len(seen) > 6:
            break
    stream.close()
    assert client_b.responses.cancel(started.id).status == "cancelled"
    time.sleep(0.5)  # ten tokens' time: a producer still running would have written more
    events = list(client_a.responses.retrieve(started.id, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "cancelled"
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert 3 <= len(deltas) < 15, len(deltas)  # the whole reply is over 20
    assert client_a.responses.retrieve(started.id).status == "cancelled"


@pytest.mark.timeout(90)
def test_a_reader_whose_instance_restarts_resumes_elsewhere_losing_nothing(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    started = sdk(a, "unused").responses.create(model="echo-1", input=PROMPT, background=True)
    seen: list[Any] = []
    try:
        for event in sdk(b, "unused").responses.retrieve(started.id, stream=True):
            seen.append(event)
            if len(seen) == 6:
                b.proc.send_signal(signal.SIGTERM)  # B's graceful restart: its readers go
    except (openai.APIConnectionError, httpx2.RemoteProtocolError):
        pass
    assert seen[-1].type == "error" and seen[-1].code == "shutdown", [e.type for e in seen]
    interrupted = seen.pop()
    # Its number is no position (records still buffered at the shutdown were dropped): the
    # client resumes after the last event it received.
    assert interrupted.sequence_number >= seen[-1].sequence_number
    rest = list(
        sdk(a, "unused").responses.retrieve(
            started.id, stream=True, starting_after=seen[-1].sequence_number
        )
    )
    events = seen + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert collapse([e.type for e in events]) == ORDER
