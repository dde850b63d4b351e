"""Real tier: the module docstring's pattern, ``stream(answer())`` with ``achat_events`` in an
async generator, served by gunicorn's gevent worker: the app calls the fake upstream with the
real ``AsyncOpenAI`` (built on the adapter's loop), the events reach an HTTP client as ndjson
while the upstream still holds the rest, and a client that leaves closes the upstream's
connection."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End

from ..conftest import ROOT, Server
from ..fake_openai import FakeOpenAI, fake_model, reply_tokens

pytestmark = pytest.mark.real

KEY = "sk-fake-key-for-the-events-app-0123"
PROMPT = "an answer as events through gunicorn"

APP = textwrap.dedent(
    """
    import os

    from flask import Flask, request
    from openai import AsyncOpenAI

    from streamer import Streamer, stream
    from streamer.adapter import loop_local
    from streamer.llm.openai_events import achat_events

    app = Flask(__name__)
    Streamer(app)


    def client():
        return AsyncOpenAI(
            api_key=os.environ["FAKE_KEY"],
            base_url=os.environ["FAKE_BASE_URL"],
            max_retries=0,
            timeout=10,
        )


    @app.get("/healthz")
    def healthz():
        return "ok"


    @app.post("/ask")
    def ask():
        body = request.json

        async def answer():
            chunks = await loop_local("openai", client).chat.completions.create(
                model=body["model"],
                messages=[{"role": "user", "content": body["question"]}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for event in achat_events(chunks):
                yield event

        return stream(answer(), format="ndjson")
    """
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture(scope="module")
def app_server(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("events_app")
    (folder / "events_app.py").write_text(APP)

    def argv(port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1"),
            *("-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"),
            *("--pythonpath", str(ROOT), "events_app:app"),
        ]

    env = {"FAKE_KEY": KEY, "FAKE_BASE_URL": upstream.base_url}
    srv = Server(env, folder / "gunicorn.log", argv=argv, cwd=folder)
    yield srv
    srv.stop()


def ask(server: Server, model: str) -> requests.Response:
    return requests.post(
        server.url("/ask"), json={"model": model, "question": PROMPT}, stream=True, timeout=10
    )


def payloads(records: list[Any]) -> list[dict[str, Any]]:
    return [r.data for r in records if isinstance(r, Data)]


@pytest.mark.timeout(30)
def test_events_reach_the_client_while_the_upstream_holds(
    app_server: Server, upstream: FakeOpenAI
) -> None:
    upstream.clear()
    decoder = NDJSONDecoder()
    records: list[Any] = []
    with ask(app_server, fake_model(hold="first")) as response:
        assert response.status_code == 200
        chunks = response.iter_content(chunk_size=None)
        while not payloads(records):
            records += decoder.feed(next(chunks))
        [record] = upstream.requests
        assert not record.finished  # the upstream holds after its first token
        assert payloads(records)[0] == {"type": "text-delta", "text": reply_tokens(PROMPT)[0]}
        upstream.release("first")
        for chunk in chunks:
            records += decoder.feed(chunk)
    events = payloads(records)
    assert [e["type"] for e in events] == ["text-delta"] * len(reply_tokens(PROMPT)) + [
        "usage",
        "finish",
    ]
    assert "".join(e["text"] for e in events[:-2]) == "".join(reply_tokens(PROMPT))
    assert events[-2]["completion_tokens"] == len(reply_tokens(PROMPT))
    assert events[-1] == {"type": "finish", "reason": "stop"}
    assert isinstance(records[-1], End)


@pytest.mark.timeout(30)
def test_a_client_that_leaves_closes_the_upstream_connection(
    app_server: Server, upstream: FakeOpenAI
) -> None:
    upstream.clear()
    decoder = NDJSONDecoder()
    records: list[Any] = []
    with ask(app_server, fake_model(hold="never-released")) as response:
        chunks = response.iter_content(chunk_size=None)
        while not payloads(records):
            records += decoder.feed(next(chunks))
        [record] = upstream.requests
        left_at = time.monotonic()
    # requests closes the socket; the engine sees it and closes the producer: the adapter
    # cancels it where it awaits the SDK's stream, and achat_events' finally awaits aclose().
    # (The cancelled read alone closes this connection too; that the adapter's close reaches
    # the SDK's stream is shown in test_openai_events_live.py.)
    assert record.wait_closed(timeout=10) - left_at < 5.0
    assert record.closed_by == "client"
    assert not record.finished
    assert "Traceback" not in app_server.log(), json.dumps(app_server.log()[-2000:])
