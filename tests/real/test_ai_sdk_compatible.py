"""Real tier: the AI SDK's ``@ai-sdk/openai-compatible`` provider (pinned in tests/node) with
``streamText`` against ``/v1`` under gunicorn (gevent worker), on the pass-through path over
the fake upstream (tests/fake_openai.py) and on the echo provider.

A tool call must arrive with its id and name on its first delta (the provider throws
otherwise), and every ending must carry a finish reason (v6+ clients fail without one):
``stop``, ``tool-calls``, ``length``; an upstream cut mid-answer is an ``error`` part, then the
iteration fails on the cut body, never a quiet end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import Server
from ..fake_openai import FakeOpenAI, fake_model
from ..gateway_fixture import gateway_over
from ..node_script import run_node_script

pytestmark = pytest.mark.real

KEY = "sk-upstream-ai-sdk-0123456789"
PROMPT = "what is the weather in Lisbon"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_over(upstream, tmp_path_factory, KEY) as srv:
        yield srv


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        {"STREAMER_ECHO_DELAY_S": "0.01"}, tmp_path_factory.mktemp("ai-sdk-echo") / "gunicorn.log"
    )
    yield srv
    srv.stop()


def parts(
    server: Server, model: str, tools: bool, max_tokens: int | None = None
) -> list[dict[str, Any]]:
    result = run_node_script(
        "node",
        "ai_sdk_compatible_client.mjs",
        server.url("/v1"),
        model,
        PROMPT,
        *(["tools"] if tools else []),
        timeout=60,
        env={"MAX_TOKENS": str(max_tokens or "")},
    )
    got: list[dict[str, Any]] = result["parts"]
    return got


def finish(got: list[dict[str, Any]]) -> str:
    (end,) = [p for p in got if p["type"] == "finish"]
    assert got[-1] is end
    return str(end["finishReason"])


def tool_call(got: list[dict[str, Any]]) -> dict[str, Any]:
    starts = [p for p in got if p["type"] == "tool-input-start"]
    (call,) = [p for p in got if p["type"] == "tool-call"]
    assert starts and starts[0]["id"] == call["toolCallId"] and starts[0]["toolName"] == "weather"
    return call


@pytest.mark.timeout(90)
def test_over_the_upstream_tool_calls_arrive_named_and_every_ending_has_a_reason(
    gateway: Server,
) -> None:
    text = parts(gateway, fake_model(tokens=6), tools=False)
    assert finish(text) == "stop"
    assert "".join(p["text"] for p in text if p["type"] == "text-delta").strip()
    called = parts(gateway, fake_model(tool_calls=1), tools=True)
    assert finish(called) == "tool-calls"
    assert tool_call(called)["input"] == {"city": PROMPT}
    assert finish(parts(gateway, fake_model(tokens=20), tools=False, max_tokens=3)) == "length"
    refused = parts(gateway, fake_model(tokens=6) + "&x=", tools=False)  # before the stream
    assert [p["type"] for p in refused] == ["start", "error"]
    assert "unknown fake option" in refused[-1]["message"]  # the upstream's own words
    cut = parts(gateway, fake_model(tokens=20, cut=3), tools=False)
    kinds = [p["type"] for p in cut]
    assert kinds[-1] in ("thrown", "finish"), kinds  # the cut body: never a quiet end
    assert "error" in kinds and "text-delta" in kinds
    assert "finish" not in kinds or finish(cut) == "error"


@pytest.mark.timeout(90)
def test_on_the_echo_the_same_endings(echo: Server) -> None:
    called = parts(echo, "echo", tools=True)
    assert finish(called) == "tool-calls"
    assert tool_call(called)["input"] == {"city": PROMPT}
    text = parts(echo, "echo", tools=False)
    assert finish(text) == "stop"
    assert "You said: " + PROMPT in "".join(p["text"] for p in text if p["type"] == "text-delta")
