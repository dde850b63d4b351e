"""Real tier of a user's own OpenAI-compatible view (issue 24): a bare ``Flask()`` app under
gunicorn (``-k streamer.worker.Worker``) whose views call the fake upstream of
tests/fake_openai.py with the real ``AsyncOpenAI`` client and

- relay its chunk objects as they come, ``stream(chunks, format="openai")``, or
- turn them into answer events and back, ``stream(achat_events(chunks), format=openai(...))``.

The official SDKs read each view as they read the upstream itself: openai-python here, and
openai-node (tests/node, pinned by its lockfile) under Node. A relayed stream gives the same
objects as a direct call, field for field (the fake's ``id``, ``created`` and
``obfuscation`` padding are per request); the events' round trip gives the same text, tool
calls, finish and usage."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from ..conftest import ROOT, Server
from ..fake_openai import FakeOpenAI, fake_model
from ..node_script import run_node_script

pytestmark = pytest.mark.real

KEY = "sk-relay-test"

APP = """
import os

from flask import Flask, request
from openai import AsyncOpenAI

from streamer import Streamer, stream
from streamer.adapter import loop_local
from streamer.llm.formats import openai
from streamer.llm.openai_events import achat_events

app = Flask(__name__)
Streamer(app)


def client():
    return AsyncOpenAI(base_url=os.environ["UPSTREAM"], api_key=os.environ["KEY"], max_retries=0)


async def upstream(body):
    create = loop_local("openai", client).chat.completions.create
    async with await create(**{**body, "stream": True}) as chunks:
        async for chunk in chunks:
            yield chunk


@app.get("/healthz")
def healthz():
    return "ok"


@app.post("/relay/v1/chat/completions")
def relay():
    return stream(upstream(request.get_json()), format="openai")


@app.post("/events/v1/chat/completions")
def events():
    body = request.get_json()
    return stream(achat_events(upstream(body)), format=openai(model=body["model"]))
"""

TOOLS = [
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
ASK = [{"role": "user", "content": "weather and time in Oslo"}]
SCENARIOS = {
    "text": {
        "model": fake_model(tokens=6, delay=0.01),
        "messages": ASK,
        "stream_options": {"include_usage": True},
    },
    "parallel-tools": {
        "model": fake_model(tool_calls=2, delay=0.01),
        "messages": ASK,
        "tools": TOOLS,
        "stream_options": {"include_usage": True},
    },
}
PER_REQUEST = {"id", "created", "obfuscation"}  # the fake makes these per request


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI) -> Iterator[Server]:
    here = tmp_path_factory.mktemp("relay")
    (here / "app.py").write_text(textwrap.dedent(APP))

    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "-k", "streamer.worker.Worker",
            "-b", f"127.0.0.1:{port}", "-w", "1", "--no-control-socket", "app:app",
        ]  # fmt: skip

    env = {"PYTHONPATH": str(ROOT), "UPSTREAM": upstream.base_url, "KEY": KEY}
    srv = Server(env, here / "gunicorn.log", argv=argv, cwd=here)
    yield srv
    srv.stop()


def python_chunks(base_url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=30)
    with client.chat.completions.create(**params, stream=True) as chunks:
        return [chunk.model_dump(exclude_unset=True) for chunk in chunks]


def node_chunks(base_url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is missing: run .ci/setup"
    got: list[dict[str, Any]] = run_node_script(
        node,
        "openai_client.mjs",
        "chunks",
        base_url,
        json.dumps(params),
        timeout=60,
        env={"OPENAI_API_KEY": KEY},
    )["chunks"]
    return got


READERS = {"openai-python": python_chunks, "openai-node": node_chunks}


def without(chunks: list[dict[str, Any]], keys: set[str]) -> list[dict[str, Any]]:
    return [{k: v for k, v in chunk.items() if k not in keys} for chunk in chunks]


def answer(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a client keeps of a stream: the text, each call's id, name and arguments, the
    finish reason and the usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                entry = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                function = call.get("function") or {}
                entry["name"] += function.get("name") or ""
                entry["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"text": text, "calls": calls, "finish": finish, "usage": usage}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_relayed_stream_is_the_upstreams_own_objects(
    app_server: Server, upstream: FakeOpenAI, reader: str, scenario: str
) -> None:
    params = SCENARIOS[scenario]
    read = READERS[reader]
    direct = read(upstream.base_url, params)
    relayed = read(app_server.url("/relay/v1"), params)
    assert len(relayed) == len(direct) > 3
    assert without(relayed, PER_REQUEST) == without(direct, PER_REQUEST)
    assert len({c["id"] for c in relayed}) == 1  # one answer, the upstream's id throughout
    if scenario == "parallel-tools":
        calls = answer(relayed)["calls"]
        assert [c["name"] for c in calls.values()] == ["weather", "time_in"]
        assert answer(relayed)["finish"] == "tool_calls"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_an_answer_through_events_keeps_text_calls_finish_and_usage(
    app_server: Server, upstream: FakeOpenAI, reader: str, scenario: str
) -> None:
    params = SCENARIOS[scenario]
    read = READERS[reader]
    direct = read(upstream.base_url, params)
    through = read(app_server.url("/events/v1"), params)
    assert answer(through) == answer(direct)
    assert {(c["object"], c["model"]) for c in through} == {
        ("chat.completion.chunk", params["model"])
    }
    assert through[0]["choices"][0]["delta"]["role"] == "assistant"


@pytest.mark.timeout(60)
def test_the_first_relayed_chunk_arrives_before_the_upstream_finishes(
    app_server: Server, upstream: FakeOpenAI
) -> None:
    client = openai.OpenAI(
        base_url=app_server.url("/relay/v1"), api_key=KEY, max_retries=0, timeout=30
    )
    started = time.monotonic()
    with client.chat.completions.create(
        model=fake_model(tokens=20, delay=0.1), messages=ASK, stream=True
    ) as chunks:
        first = next(iter(chunks))
        first_at = time.monotonic() - started
        rest = list(chunks)
    total = time.monotonic() - started
    assert first.choices[0].delta.role == "assistant"
    assert first_at < 1.0 < total  # 20 tokens 0.1 s apart: about 2 s in all
    assert rest[-1].choices[0].finish_reason == "stop"
