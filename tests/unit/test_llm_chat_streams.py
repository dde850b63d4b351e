"""Fast tier of streamer.llm.chat_streams: a resumable ``format="ui-message"`` answer named by
its chat id, resumed and stopped through Flask's test client (a bare ``Flask()`` +
``Streamer(app)``, the memory store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from streamer import Streamer, stream
from streamer.llm.chat_streams import resume_chat, stop_chat
from streamer.llm.events import Finish, TextDelta


def answer(hold: gevent.event.Event | None = None) -> Iterator[Any]:
    yield TextDelta("Hel")
    if hold is not None:
        hold.wait(10)
    yield TextDelta("lo!")
    yield Finish("stop")


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    Streamer(app)
    app.extensions["hold"] = gevent.event.Event()

    @app.post("/chat")
    def chat() -> Any:
        body = request.get_json()
        hold = app.extensions["hold"] if body.get("hold") else None
        return stream(answer(hold), format="ui-message", resumable=True, name=body["id"])

    @app.get("/chat/<chat_id>/stream")
    def resume(chat_id: str) -> Any:
        return resume_chat(chat_id)

    @app.delete("/chat/<chat_id>/stream")
    def stop(chat_id: str) -> Any:
        return stop_chat(chat_id)

    return app


def parts(body: bytes) -> list[Any]:
    events = [e for e in body.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events), events
    return [e[6:] if e == "data: [DONE]" else json.loads(e[6:]) for e in events]


def texts(got: list[Any]) -> str:
    return "".join(p["delta"] for p in got if isinstance(p, dict) and p["type"] == "text-delta")


@pytest.mark.timeout(20)
def test_a_resume_from_the_start_returns_every_part_once(app: Flask) -> None:
    client = app.test_client()
    first = client.post("/chat", json={"id": "c1"})
    assert first.headers["x-vercel-ai-ui-message-stream"] == "v1"
    live = parts(first.data)
    assert [p if isinstance(p, str) else p["type"] for p in live] == [
        "start", "start-step", "text-start", "text-delta", "text-delta", "text-end",
        "finish-step", "finish", "[DONE]",
    ]  # fmt: skip
    again = client.get("/chat/c1/stream")
    assert again.status_code == 200
    assert again.headers["content-type"].startswith("text/event-stream")
    assert again.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert parts(again.data) == live  # the same message id, each part once
    assert texts(live) == "Hello!"


@pytest.mark.timeout(20)
def test_an_unknown_chat_has_nothing_to_resume_or_stop(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/chat/nope/stream").status_code == 204
    assert client.delete("/chat/nope/stream").status_code == 204


@pytest.mark.timeout(20)
def test_a_stop_keeps_the_partial_answer_and_ends_it_cleanly(app: Flask) -> None:
    client: FlaskClient = app.test_client()
    live = client.post("/chat", json={"id": "c2", "hold": True}, buffered=False)
    stopped = client.delete("/chat/c2/stream")
    assert stopped.status_code == 202 and stopped.json == {"chat": "c2", "status": "stopped"}
    got = parts(b"".join(live.response))  # the live reader ends cleanly too
    live.close()
    assert got[-2:] == [{"type": "abort"}, "[DONE]"]
    assert texts(got) == "Hel"
    resumed = client.get("/chat/c2/stream")
    assert resumed.status_code == 200 and parts(resumed.data) == got
    assert client.delete("/chat/c2/stream").status_code == 204  # finished: nothing to stop


@pytest.mark.timeout(20)
def test_a_resume_mid_answer_replays_then_follows_live(app: Flask) -> None:
    client = app.test_client()
    live = client.post("/chat", json={"id": "c3", "hold": True}, buffered=False)
    resumed = client.get("/chat/c3/stream", buffered=False)
    gevent.spawn_later(0.2, app.extensions["hold"].set)
    body = b"".join(resumed.response)
    assert texts(parts(body)) == "Hello!" and parts(body)[-1] == "[DONE]"
    assert parts(b"".join(live.response)) == parts(body)
    live.close()
    resumed.close()


@pytest.mark.timeout(20)
def test_a_resumable_openai_stream_replays_its_chunks(app: Flask) -> None:
    @app.post("/openai")
    def chat_completions() -> Any:
        return stream(answer(), format="openai", resumable=True)

    client = app.test_client()
    first = client.post("/openai")
    sid = first.headers["X-Stream-Id"]
    assert first.data.endswith(b"data: [DONE]\n\n")
    # The generic resume route knows no payload format: it serves the stored chunks as
    # NDJSON records, one chunk dict in each.
    again = client.get(f"/streams/{sid}?format=ndjson")
    lines = [json.loads(line) for line in again.data.decode().split("\n")[:-1]]
    chunks = [line["data"] for line in lines if line["event"] == "data"]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello!"
