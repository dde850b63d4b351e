"""Real tier of the Responses API's pass-through (streamer/service/openai_api/responses/
relay.py): ``POST /v1/responses`` on the openai provider under gunicorn (gevent worker),
relaying the fake upstream's own Responses API (tests/fake_openai.py), read by openai-python
and openai-node.

Every request field reaches the upstream as sent, the ones the built path refuses included
(``previous_response_id``, ``reasoning``, a built-in tool, a field from next year), and every
event comes back as the upstream sent it, byte for byte: ``x_future.score`` is ``1e-07`` on
the upstream's wire, which any re-serialization would change. The gateway's guarantees hold
on this path too: the first event before the upstream finishes, the upstream closed within
0.1 s of a client leaving, the usage in the log, a failure in-band then a cut body."""

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
from ..fake_openai import FakeOpenAI, fake_model
from ..gateway_fixture import gateway_over
from ..node_script import run_node_script
from .test_openai_passthrough import upstream_request

pytestmark = pytest.mark.real

UPSTREAM_KEY = "sk-upstream-secret-resp-pass-0123456789"
PROMPT = "relay every event as the upstream sent it"
#: What the built path refuses (streamer keeps no state, knows no built-in tool) and an
#: upstream's own Responses API takes.
FIELDS: dict[str, Any] = {
    "previous_response_id": "resp_earlier_0123",
    "reasoning": {"effort": "low", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "x_next_year": {"mode": "fast"},
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_over(
        upstream,
        tmp_path_factory,
        UPSTREAM_KEY,
        STREAMER_UPSTREAM_TIMEOUT_S="30",
        STREAMER_HEARTBEAT_S="0.3",
    ) as srv:
        yield srv


@pytest.fixture
def client(gateway: Server) -> Iterator[OpenAI]:
    with OpenAI(api_key="unused", base_url=gateway.url("/v1"), max_retries=0, timeout=30) as c:
        yield c


def body_of(**options: Any) -> dict[str, Any]:
    return {
        "model": fake_model(delay=0.005, future=1, **options),
        "input": PROMPT,
        "tools": [{"type": "web_search"}],
        **FIELDS,
    }


def sdk_args(body: dict[str, Any]) -> dict[str, Any]:
    known = {name: value for name, value in body.items() if not name.startswith("x_")}
    return {**known, "extra_body": {n: v for n, v in body.items() if n.startswith("x_")}}


def blocks(text: str) -> list[tuple[str, str]]:
    """The (event, data) of each SSE block of ``text`` (comments, the heartbeats, left out)."""
    out = []
    for raw in text.split("\n\n"):
        lines = [line for line in raw.split("\n") if line and not line.startswith(":")]
        if lines:
            assert lines[0].startswith("event: ") and lines[1].startswith("data: "), lines
            out.append((lines[0][7:], lines[1][6:]))
    return out


@pytest.mark.timeout(60)
def test_every_field_goes_up_as_sent_and_every_event_comes_back_as_sent(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI
) -> None:
    body = {**body_of(), "stream": True}
    before = len(upstream.requests)
    wire = requests.post(gateway.url("/v1/responses"), json=body, timeout=30)
    assert wire.status_code == 200, wire.text
    assert wire.headers["content-type"].startswith("text/event-stream")
    record = upstream_request(upstream, body["model"], before)
    assert record.body == body  # every field, as sent
    got = blocks(wire.text)
    assert [data for _, data in got] == record.sent  # every event's text, as sent
    assert [name for name, _ in got] == [json.loads(s)["type"] for s in record.sent]
    assert '"score":1e-07' in got[-1][1] and got[-1][0] == "response.completed"

    before = len(upstream.requests)
    events = list(client.responses.create(**sdk_args(body)))
    sent = [json.loads(s) for s in upstream_request(upstream, body["model"], before).sent]
    assert [e.to_dict() for e in events] == sent  # the SDK's objects: the upstream's, extras too


@pytest.mark.timeout(60)
def test_a_whole_response_is_the_upstreams_body(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI
) -> None:
    body = body_of()
    before = len(upstream.requests)
    wire = requests.post(gateway.url("/v1/responses"), json=body, timeout=30)
    assert wire.status_code == 200 and wire.headers["content-type"] == "application/json"
    assert wire.text == upstream_request(upstream, body["model"], before).sent[0]
    whole = client.responses.create(**sdk_args(body))
    streamed = list(client.responses.create(**sdk_args(body), stream=True))
    deltas = [e.delta for e in streamed if e.type == "response.output_text.delta"]
    assert whole.output_text == "".join(deltas) and whole.output_text
    assert whole.usage is not None and whole.usage.output_tokens == len(deltas)


@pytest.mark.timeout(60)
def test_the_first_event_arrives_before_the_upstream_finishes_and_leaving_closes_it(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI
) -> None:
    body = {**body_of(tokens=40), "model": fake_model(tokens=40, delay=0.05), "stream": True}
    before = len(upstream.requests)
    with client.responses.create(**sdk_args(body)) as events:
        first = next(iter(events))
        record = upstream_request(upstream, body["model"], before)
        assert first.type == "response.created" and not record.finished
        closed = time.monotonic()
    assert record.wait_closed(timeout=5) - closed < 0.1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_the_usage_is_logged_from_the_upstreams_terminal_event(
    gateway: Server, upstream: FakeOpenAI, client: OpenAI, streamed: bool
) -> None:
    body = {**body_of(tokens=7), "stream": streamed}
    before = len(upstream.requests)
    lines_before = len(gateway.log().splitlines())
    if streamed:
        usage = list(client.responses.create(**sdk_args(body)))[-1].response.usage
    else:
        usage = client.responses.create(**sdk_args(body)).usage
    assert usage is not None
    record = upstream_request(upstream, body["model"], before)
    assert record.tokens_sent == 7

    def logged() -> str | None:
        return next(
            (
                line
                for line in gateway.log().splitlines()[lines_before:]
                if " usage route=/v1/responses " in line and f"model={body['model']}" in line
            ),
            None,
        )

    line = upstream.wait_for(logged, 5, "the usage line")
    assert "outcome=complete" in line
    assert f"prompt_tokens={usage.input_tokens} " in line
    assert f"completion_tokens={usage.output_tokens} " in line and "partial=0" in line


@pytest.mark.timeout(60)
def test_what_the_upstream_refuses_comes_back_with_its_status_and_code(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model=fake_model(fail=404), input=PROMPT, stream=True)
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="fake?no_such_option=1", input=PROMPT)
    assert refused.value.body["param"] == "model"  # type: ignore[index]


@pytest.mark.timeout(60)
def test_an_upstream_cut_mid_stream_is_response_failed_with_the_output_so_far_then_a_cut(
    client: OpenAI,
) -> None:
    events: list[Any] = []
    body = {**body_of(), "model": fake_model(tokens=10, delay=0.01, cut=3), "stream": True}
    stream = client.responses.create(**sdk_args(body))
    with pytest.raises(openai.APIConnectionError):
        for event in stream:
            events.append(event)
    assert events[-1].type == "response.failed", [e.type for e in events]
    failed = events[-1].response
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert failed.status == "failed" and failed.error is not None and deltas
    assert failed.output_text == deltas
    assert events[-1].sequence_number == events[-2].sequence_number + 1


@pytest.mark.timeout(90)
def test_openai_node_reads_the_upstreams_events(gateway: Server, upstream: FakeOpenAI) -> None:
    body = {**body_of(tokens=5), "stream": True}
    before = len(upstream.requests)
    got = run_node_script(
        "node", "responses_client.mjs", "events", gateway.url("/v1"), json.dumps(body), timeout=60
    )["events"]
    sent = [json.loads(s) for s in upstream_request(upstream, body["model"], before).sent]
    assert got == sent  # the SDK's events: the upstream's, unknown fields included
