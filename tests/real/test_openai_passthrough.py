"""Real tier of the pass-through gateway (issue 25, streamer/service/openai_api/relay.py):
``/v1/chat/completions`` on the openai provider under gunicorn (gevent worker), relaying the
fake upstream of tests/fake_openai.py, read by the official SDKs (openai-python here,
openai-node under Node).

Every request field reaches the upstream as sent (tools, parallel calls, ``response_format``,
``logprobs``, ``n``, an image part, a field from next year) and every chunk comes back as the
upstream sent it: the same JSON text, byte for byte (``x_future.score`` is ``1e-07`` on the
upstream's wire; any re-serialization would make it ``1e-7`` or drop the field), so the SDKs'
objects are the upstream's, unknown fields included."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from ..conftest import Server
from ..fake_openai import FakeOpenAI, FakeRequest, fake_model
from ..gateway_fixture import gateway_over
from ..node_script import run_node_script

pytestmark = pytest.mark.real

UPSTREAM_KEY = "sk-upstream-secret-pass-0123456789"
PROMPT = "relay every field as the upstream sent it"
IMAGE = {
    "type": "image_url",
    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "time_in",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    },
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"],
            "additionalProperties": False,
        },
    },
}
#: Each case: the fake's scenario and the request's own fields (as a user's code sends them).
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "parallel-tools": (
        {"tool_calls": 2},
        {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": True},
    ),
    "json-schema": ({}, {"response_format": SCHEMA}),
    "logprobs": ({}, {"logprobs": True, "top_logprobs": 2}),
    "n-2": ({}, {"n": 2}),
    "image-part": (
        {},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}, IMAGE]}]},
    ),
    "future-field": ({"future": 1}, {"x_next_year": {"mode": "fast"}, "reasoning_effort": "low"}),
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_over(
        upstream, tmp_path_factory, UPSTREAM_KEY, STREAMER_UPSTREAM_TIMEOUT_S="30"
    ) as srv:
        yield srv


@pytest.fixture
def client(gateway: Server) -> Iterator[OpenAI]:
    with OpenAI(api_key="unused", base_url=gateway.url("/v1"), max_retries=0, timeout=30) as c:
        yield c


def request_of(case: str, **extra: Any) -> dict[str, Any]:
    scenario, fields = CASES[case]
    return {
        "model": fake_model(delay=0.005, **scenario),
        "messages": [{"role": "user", "content": PROMPT}],
        **fields,
        **extra,
    }


def sdk_args(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as openai-python's ``create()`` takes it: a field it does not know yet goes
    in ``extra_body``, as a user would send it."""
    known = {name: value for name, value in body.items() if not name.startswith("x_")}
    return {**known, "extra_body": {n: v for n, v in body.items() if n.startswith("x_")}}


def upstream_request(upstream: FakeOpenAI, model: str, before: int) -> FakeRequest:
    return upstream.wait_for(
        lambda: next((r for r in upstream.requests[before:] if r.model == model), None),
        10,
        f"the upstream request for {model}",
    )


def data_lines(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_every_field_goes_up_as_sent_and_every_chunk_comes_back_as_sent(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI, case: str
) -> None:
    body = request_of(case, stream=True, stream_options={"include_usage": True})
    before = len(upstream.requests)
    wire = requests.post(gateway.url("/v1/chat/completions"), json=body, timeout=30)
    assert wire.status_code == 200, wire.text
    record = upstream_request(upstream, body["model"], before)
    assert record.body == body  # every field, as sent
    assert data_lines(wire.text) == [*record.sent, "[DONE]"]  # every chunk's text, as sent

    before = len(upstream.requests)
    chunks = list(client.chat.completions.create(**sdk_args(body)))
    sent = [json.loads(s) for s in upstream_request(upstream, body["model"], before).sent]
    assert [c.to_dict() for c in chunks] == sent  # the SDK's objects: the upstream's, extras too


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["parallel-tools", "logprobs", "n-2", "future-field"])
def test_a_whole_answer_is_the_upstreams_body_and_matches_its_stream(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI, case: str
) -> None:
    body = request_of(case)
    before = len(upstream.requests)
    wire = requests.post(gateway.url("/v1/chat/completions"), json=body, timeout=30)
    assert wire.status_code == 200 and wire.headers["content-type"] == "application/json"
    assert wire.text == upstream_request(upstream, body["model"], before).sent[0]
    whole = client.chat.completions.create(**sdk_args(body))
    streamed = list(client.chat.completions.create(**sdk_args(body), stream=True))
    for choice in whole.choices:
        deltas = [
            c.choices[0].delta for c in streamed if c.choices and c.choices[0].index == choice.index
        ]
        text = "".join(d.content or "" for d in deltas)
        assert (choice.message.content or "") == text
        calls = [call for d in deltas for call in d.tool_calls or []]
        assert [c.function.name for c in choice.message.tool_calls or []] == [
            c.function.name for c in calls if c.function and c.function.name
        ]
        assert choice.finish_reason == next(
            c.choices[0].finish_reason
            for c in reversed(streamed)
            if c.choices and c.choices[0].index == choice.index
        )


@pytest.mark.timeout(60)
def test_a_whole_answers_usage_is_logged_from_the_upstreams_body(
    gateway: Server, client: OpenAI
) -> None:
    model = fake_model(delay=0.005, tokens=6)
    lines_before = len(gateway.log().splitlines())
    whole = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}]
    )
    assert whole.usage is not None

    def logged() -> str | None:
        lines = gateway.log().splitlines()[lines_before:]
        usage = (line for line in lines if " usage route=" in line and f" model={model} " in line)
        return next(usage, None)

    deadline = time.monotonic() + 5
    while (line := logged()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line is not None and " route=/v1/chat/completions " in line
    assert "outcome=complete" in line and "partial=0" in line
    assert f"prompt_tokens={whole.usage.prompt_tokens} " in line
    assert f"completion_tokens={whole.usage.completion_tokens} " in line


@pytest.mark.timeout(60)
def test_without_include_usage_the_chunks_are_those_the_upstream_sends_without_it(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    """The gateway asks the upstream for the usage (for its meter) and hands the client the
    chunks it would have had without: no usage chunk, no ``"usage":null`` in the others."""
    body = request_of("future-field", stream=True)
    before = len(upstream.requests)
    wire = requests.post(gateway.url("/v1/chat/completions"), json=body, timeout=30)
    record = upstream_request(upstream, body["model"], before)
    assert record.body["stream_options"] == {"include_usage": True}
    got = data_lines(wire.text)
    assert got[-1] == "[DONE]"
    assert got[:-1] == [s.replace(',"usage":null', "") for s in record.sent[:-1]]
    assert json.loads(record.sent[-1])["usage"]["completion_tokens"] > 0


@pytest.mark.timeout(60)
def test_what_the_upstream_refuses_comes_back_with_its_status_message_and_param(
    client: OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="fake?no_such_option=1", messages=[{"role": "user", "content": PROMPT}]
        )
    assert refused.value.status_code == 400
    assert refused.value.body["param"] == "model"  # type: ignore[index]
    assert "no_such_option" in refused.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        list(
            client.chat.completions.create(
                model=fake_model(fail=404),
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
            )
        )
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]


@pytest.mark.timeout(60)
def test_the_first_chunk_arrives_before_the_upstream_finishes(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI
) -> None:
    body = request_of("n-2", model=fake_model(tokens=40, delay=0.05), stream=True)
    before = len(upstream.requests)
    with client.chat.completions.create(**sdk_args(body)) as chunks:
        first = next(iter(chunks))
        record = upstream_request(upstream, body["model"], before)
        assert not record.finished and first.choices[0].delta.role == "assistant"
        closed = time.monotonic()
    assert record.wait_closed(timeout=5) - closed < 0.1


@pytest.mark.timeout(90)
def test_openai_node_reads_the_upstreams_objects(gateway: Server, upstream: FakeOpenAI) -> None:
    for case in ("parallel-tools", "n-2", "future-field", "logprobs"):
        body = request_of(case, stream_options={"include_usage": True})
        before = len(upstream.requests)
        got = run_node_script(
            "node", "openai_client.mjs", "chunks", gateway.url("/v1"), json.dumps(body), timeout=60
        )["chunks"]
        sent = upstream_request(upstream, body["model"], before).sent
        assert got == [json.loads(s) for s in sent], case
