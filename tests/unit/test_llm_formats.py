"""Fast tier of streamer.llm.formats: ``stream(events, format="openai")`` in any view, through
Flask's test client (a bare ``Flask()`` + ``Streamer(app)``), and the format names the server
resolves on first use (the ui-message parts: test_llm_ui_message.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from openai.types.chat import ChatCompletionChunk
from werkzeug.test import TestResponse

from streamer import Streamer, stream
from streamer.engine import StreamAborted
from streamer.errors import UpstreamError
from streamer.llm.events import (
    Finish,
    ReasoningDelta,
    Refusal,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResult,
    Usage,
)
from streamer.llm.formats import OPENAI, UI_MESSAGE, openai
from streamer.llm.openai_chunks import Answer, error_object
from streamer.server.streaming import NAMED_FORMATS, _payload_format

ANSWER = [
    ReasoningDelta("Think"),
    TextDelta("Hel"),
    TextDelta("lo"),
    ToolCallStart("call_1", "weather", 0),
    ToolCallDelta("call_1", '{"city":'),
    ToolCallDelta("call_1", '"Oslo"}'),
    ToolCallEnd("call_1", "weather", '{"city":"Oslo"}'),
    ToolResult("call_1", {"temp": 3}),  # not in OpenAI's chunks
    Usage(3, 5),
    Finish("tool_calls"),
]


def serve(
    producer: Any, json_default: Callable[[Any], Any] | None = None, **kwargs: Any
) -> tuple[TestResponse, list[str]]:
    """The response and its SSE data blocks; a body cut short (an in-band error) ends in
    ``"<cut>"``."""
    app = Flask(__name__)
    Streamer(app, json_default=json_default)

    @app.get("/a")
    def view() -> object:
        return stream(producer, **kwargs)

    response = app.test_client().get("/a", buffered=False)
    body, tail = b"", []
    try:
        for piece in response.response:
            body += piece
    except StreamAborted:
        tail = ["<cut>"]
    finally:
        response.close()
    text = body.decode()
    assert text.endswith("\n\n")
    return response, [b.removeprefix("data: ") for b in text[:-2].split("\n\n")] + tail


def deltas(blocks: list[str]) -> list[Any]:
    chunks = [json.loads(b) for b in blocks[:-1]]
    return [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) if c["choices"]
            else c["usage"] for c in chunks]  # fmt: skip


@pytest.mark.timeout(10)
def test_an_answer_becomes_openai_chunks() -> None:
    response, blocks = serve(iter(ANSWER), format=openai(model="gpt-x"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert blocks[-1] == "[DONE]"
    call = {"index": 0, "id": "call_1", "type": "function"}
    assert deltas(blocks) == [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"reasoning_content": "Think"}, None),
        ({"content": "Hel"}, None),
        ({"content": "lo"}, None),
        ({"tool_calls": [{**call, "function": {"name": "weather", "arguments": ""}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}, None),
        ({}, "tool_calls"),
        {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    ]
    chunks = [json.loads(b) for b in blocks[:-1]]
    assert {(c["id"], c["model"], c["object"]) for c in chunks} == {
        (chunks[0]["id"], "gpt-x", "chat.completion.chunk")
    }
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert set(chunks[0]) == {"id", "object", "created", "model", "system_fingerprint", "choices"}
    for chunk in chunks:  # what the SDK reads
        ChatCompletionChunk.model_validate(chunk)


@pytest.mark.timeout(10)
def test_a_refusal_and_a_whole_tool_call_without_deltas() -> None:
    events = [Refusal("No."), ToolCallEnd("c9", "f", '{"a":1}'), Finish()]
    _, blocks = serve(iter(events), format="openai")
    function = {"name": "f", "arguments": '{"a":1}'}
    whole = {"index": 0, "id": "c9", "type": "function", "function": function}
    assert deltas(blocks)[1:] == [
        ({"refusal": "No."}, None),
        ({"tool_calls": [whole]}, None),
        ({}, "stop"),
    ]
    assert json.loads(blocks[0])["model"] == ""  # format="openai": no model named


def test_chunks_of_an_answer_without_its_finish_still_end_as_one() -> None:
    got = list(OPENAI.transform(iter([TextDelta("a")])))
    assert [c["choices"][0]["finish_reason"] for c in got] == [None, None, "stop"]


@pytest.mark.timeout(10)
def test_sdk_chunks_and_chunk_dicts_are_relayed_unchanged() -> None:
    wire = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 7, "model": "up",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
            "service_tier": "default"}  # fmt: skip
    usage = {**wire, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                              "total_tokens": 2}}  # fmt: skip
    producer = iter([ChatCompletionChunk.model_validate(wire), usage])
    _, blocks = serve(producer, format="openai")
    assert [json.loads(b) for b in blocks[:-1]] == [wire, usage]
    assert blocks[-1] == "[DONE]"


def failing() -> Iterator[Any]:
    yield TextDelta("Hel")
    raise UpstreamError("the upstream went away", type="upstream_disconnected")


@pytest.mark.timeout(10)
def test_a_failure_mid_answer_is_openais_error_chunk_and_no_done() -> None:
    _, blocks = serve(failing(), format="openai")
    assert [json.loads(b).get("choices", [{}])[0].get("delta") for b in blocks[:2]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hel"},
    ]
    assert json.loads(blocks[2]) == {
        "error": error_object("upstream_disconnected", "the upstream went away")
    }
    assert blocks[3:] == ["<cut>"]  # no [DONE]: the body is cut


@pytest.mark.timeout(10)
def test_a_failure_before_the_first_event_is_a_real_status() -> None:
    def early() -> Iterator[Any]:
        raise UpstreamError("no", type="upstream_unavailable", status=502)
        yield TextDelta("never")  # pragma: no cover

    app = Flask(__name__)
    Streamer(app)
    app.add_url_rule("/a", view_func=lambda: stream(early(), format="openai"))
    response = app.test_client().get("/a")
    assert response.status_code == 502
    assert response.get_json()["error"]["type"] == "upstream_unavailable"


@pytest.mark.timeout(10)
def test_an_async_producer_streams_the_same_chunks() -> None:
    async def events() -> AsyncIterator[Any]:
        for event in ANSWER:
            await asyncio.sleep(0)
            yield event

    _, sync_blocks = serve(iter(ANSWER), format="openai")
    _, async_blocks = serve(events(), format="openai")
    assert deltas(async_blocks) == deltas(sync_blocks)


def test_closing_the_chunks_closes_the_producer_at_once() -> None:
    closed: list[bool] = []

    def producer() -> Iterator[Any]:
        try:
            yield TextDelta("a")
            yield TextDelta("b")
        finally:
            closed.append(True)

    chunks = OPENAI.transform(producer())
    next(chunks)
    chunks.close()  # type: ignore[attr-defined]
    assert closed == [True]


def test_the_server_resolves_the_names_to_these_formats() -> None:
    assert _payload_format("openai") is OPENAI
    assert _payload_format("ui-message") is UI_MESSAGE
    assert set(NAMED_FORMATS) == {"openai", "ui-message"}
    fmt = openai(model="m")
    assert _payload_format(fmt) is fmt
    with pytest.raises(ValueError, match="text, ndjson, sse, openai, ui-message, got 'xml'"):
        _payload_format("xml")


@pytest.mark.timeout(30)
def test_the_server_imports_the_llm_layer_only_when_a_view_asks() -> None:
    code = (
        "import sys, streamer.server, streamer.server.streaming;"
        "assert not [m for m in sys.modules if m.startswith('streamer.llm')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_an_answer_object_builds_chunks_for_the_transform() -> None:
    chunk = Answer("m").chunk({"content": "x"})
    items: Iterable[Any] = [chunk]
    assert list(OPENAI.transform(iter(items))) == [chunk]  # a chunk dict passes as it is


@pytest.mark.timeout(10)
def test_the_apps_json_default_serialises_what_json_does_not_know() -> None:
    chunk = {"object": "chat.completion.chunk", "choices": [], "price": Decimal("0.5")}
    _, blocks = serve(iter([chunk]), json_default=str, format="openai")
    assert json.loads(blocks[0])["price"] == "0.5"
    app = Flask(__name__)
    Streamer(app)  # no json_default: the first payload fails before the first byte
    app.add_url_rule("/a", view_func=lambda: stream(iter([chunk]), format="openai"))
    response = app.test_client().get("/a")
    assert response.status_code == 500
    assert response.get_json()["error"]["type"] == "unserializable_payload"
