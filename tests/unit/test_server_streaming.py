"""Fast tier of streamer.server.streaming: ``stream()``, the one call a view makes (each producer
kind in each format through it: tests/unit/test_server_extension.py)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pydantic
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openai.types.chat import ChatCompletionChunk
from werkzeug.test import TestResponse

from streamer import Data, End, Event, Ping, Streamer, stream
from streamer.adapter import SyncStream
from streamer.engine import StreamAborted
from streamer.server.streaming import _sync
from streamer.wire.decoders import NDJSONDecoder, SSEDecoder


class OnlyAsync:
    """An async iterable that is not also a sync one."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[str]:
        yield "x"


def test_an_async_iterable_is_run_through_the_adapter_and_a_sync_one_as_it_is() -> None:
    gen: Iterator[str] = iter(["a"])
    assert _sync(gen) is gen
    bridged = _sync(OnlyAsync())
    assert isinstance(bridged, SyncStream)
    assert list(bridged) == ["x"]  # type: ignore[call-overload]


def test_a_resumable_stream_carries_its_id_and_extra_headers() -> None:
    app = Flask(__name__)
    Streamer(app)

    @app.get("/s")
    def view() -> object:
        return stream(iter(["a", "b"]), format="ndjson", resumable=True, headers={"X-Extra": "1"})

    response = app.test_client().get("/s")
    try:
        assert response.status_code == 200 and response.headers["X-Extra"] == "1"
        assert response.headers["X-Stream-Id"]
        assert response.mimetype == "application/x-ndjson"
        assert b'"a"' in response.get_data()
    finally:
        response.close()  # as a WSGI server does: releases the held request


# -- payloads: what LLM apps yield (pydantic models, the OpenAI SDK's chunks, dataclasses) -------

# A chunk as the Chat Completions API streams it: a tool-call delta, then the usage chunk.
CHUNK_JSON: dict[str, Any] = {
    "id": "chatcmpl-9x",
    "object": "chat.completion.chunk",
    "created": 1718000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_0ba0d124f1",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_Qx",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Par'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": None,
        }
    ],
    "usage": None,
    "obfuscation": "kV3",  # a field the SDK's model does not declare: kept
}
USAGE_JSON: dict[str, Any] = {
    "id": "chatcmpl-9x",
    "object": "chat.completion.chunk",
    "created": 1718000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    },
}


class Answer(pydantic.BaseModel):
    text: str
    score: float = 0.5  # unset: left out
    tags: list[str] = []


@dataclasses.dataclass
class Step:
    n: int
    answer: Answer | None = None
    at: datetime.date | None = None


class Opaque:
    """No JSON, no model_dump, no dataclass."""


def ndjson_data(body: bytes) -> list[Any]:
    records = [json.loads(line) for line in body.splitlines()]
    return [r["data"] for r in records if r["event"] == "data"]


def sse_data(body: bytes) -> list[Any]:
    # A data event is a block with an id and no event name (the first may also carry the
    # stream's retry hint; the end has an id too, one past the last record, and its name).
    blocks = [block.split("\n") for block in body.decode().split("\n\n")]
    return [
        json.loads("\n".join(line[6:] for line in lines if line.startswith("data: ")))
        for lines in blocks
        if any(line.startswith("id: ") for line in lines)
        and not any(line.startswith("event: ") for line in lines)
    ]


def stream_app(producer: Callable[[], Any], **streamer: Any) -> FlaskClient:
    app = Flask(__name__)
    Streamer(app, **streamer)

    @app.get("/s")
    def view() -> object:
        return stream(producer())

    return app.test_client()


def get(client: FlaskClient, fmt: str) -> TestResponse:
    response = client.get(f"/s?format={fmt}")
    response.get_data()
    response.close()
    return response


def llm_chunks() -> Iterator[Any]:
    yield ChatCompletionChunk.model_validate(CHUNK_JSON)
    yield ChatCompletionChunk.model_validate(USAGE_JSON)


async def llm_chunks_async() -> AsyncIterator[Any]:
    for chunk in llm_chunks():
        yield chunk


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
@pytest.mark.parametrize("producer", [llm_chunks, llm_chunks_async], ids=["sync", "async"])
def test_openai_sdk_chunks_go_out_as_the_api_sent_them(
    fmt: str, producer: Callable[[], Any]
) -> None:
    response = get(stream_app(producer), fmt)
    assert response.status_code == 200
    decode = ndjson_data if fmt == "ndjson" else sse_data
    assert decode(response.data) == [CHUNK_JSON, USAGE_JSON]


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_models_and_dataclasses_are_serialised_nested_in_each_other_and_in_plain_json(
    fmt: str,
) -> None:
    def producer() -> Iterator[Any]:
        yield Answer(text="hi")
        yield Step(1, Answer(text="a", tags=["x"]))
        yield {"steps": [Step(2), Answer(text="b", score=1.0)], "n": 3}

    response = get(stream_app(producer), fmt)
    assert response.status_code == 200
    decode = ndjson_data if fmt == "ndjson" else sse_data
    assert decode(response.data) == [
        {"text": "hi"},
        {"n": 1, "answer": {"text": "a", "tags": ["x"]}, "at": None},
        {"steps": [{"n": 2, "answer": None, "at": None}, {"text": "b", "score": 1.0}], "n": 3},
    ]


@pytest.mark.parametrize("fmt", ["ndjson", "sse", "text"])
@pytest.mark.parametrize("where", ["argument", "config"])
def test_the_apps_json_default_serialises_anything_else(fmt: str, where: str) -> None:
    def producer() -> Iterator[Any]:
        yield {"day": datetime.date(2024, 5, 1)}
        yield Step(1, at=datetime.date(2024, 5, 2))

    def default(value: Any) -> Any:
        if isinstance(value, datetime.date):
            return value.isoformat()
        raise TypeError(f"no JSON for {type(value).__name__}")

    app = Flask(__name__)
    if where == "argument":
        Streamer(app, json_default=default)
    else:
        app.config["STREAMER_JSON_DEFAULT"] = default
        Streamer(app)

    @app.get("/s")
    def view() -> object:
        return stream(producer())

    response = get(app.test_client(), fmt)
    assert response.status_code == 200
    expected = [{"day": "2024-05-01"}, {"n": 1, "answer": None, "at": "2024-05-02"}]
    if fmt == "text":
        assert [json.loads(line) for line in response.data.splitlines()] == expected
    else:
        assert (ndjson_data if fmt == "ndjson" else sse_data)(response.data) == expected


@pytest.mark.parametrize("fmt", ["ndjson", "sse", "text"])
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(Opaque(), id="top"),
        pytest.param({"a": [Opaque()]}, id="nested"),
        pytest.param(Step(1, at=Opaque()), id="in-a-dataclass"),  # type: ignore[arg-type]
    ],
)
def test_an_unserialisable_first_payload_is_a_json_500_naming_its_type(
    fmt: str, payload: Any
) -> None:
    response = get(stream_app(lambda: iter([payload, "never"])), fmt)
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["type"] == "unserializable_payload"
    assert "Object of type Opaque is not JSON serializable" in error["message"]
    assert "json_default" in error["message"]


def test_a_json_default_that_refuses_is_a_500_naming_the_type() -> None:
    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    response = get(stream_app(lambda: iter([Opaque()]), json_default=refuse), "ndjson")
    assert response.status_code == 500
    assert response.get_json()["error"]["type"] == "unserializable_payload"
    assert "Opaque" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_an_unserialisable_later_payload_ends_the_stream_with_an_error_record(fmt: str) -> None:
    closed: list[bool] = []

    def producer() -> Iterator[Any]:
        try:
            yield Answer(text="first")
            yield {"n": 2}
            yield Opaque()
            yield "never"
        finally:
            closed.append(True)

    response = stream_app(producer).get(f"/s?format={fmt}")
    assert response.status_code == 200
    body = b""
    with pytest.raises(StreamAborted):  # the test client's stand-in for a cut connection
        for chunk in response.response:
            body += chunk
    if fmt == "ndjson":
        records = [json.loads(line) for line in body.splitlines()]
        assert [r["data"] for r in records[:2]] == [{"text": "first"}, {"n": 2}]
        assert [r["event"] for r in records] == ["data", "data", "error"]
        error = records[-1]["error"]
    else:
        assert sse_data(body) == [{"text": "first"}, {"n": 2}]
        last = body.decode().split("\n\n")[-2]
        assert last.startswith("event: error\ndata: ")
        error = json.loads(last.split("data: ", 1)[1])
    assert error["type"] == "unserializable_payload"
    assert "Object of type Opaque is not JSON serializable" in error["message"]
    assert b"never" not in body and b'"end"' not in body and b"event: end" not in body
    assert closed == [True]  # the producer was closed: its finally ran


# -- named events: what htmx's sse-swap and Datastar read ---------------------------------------


def named_events() -> Iterator[Any]:
    yield "plain"
    yield Event("<tr>\n<td>1</td></tr>", "row")
    yield Event({"n": 2}, "stats")
    yield "last"


def test_named_events_over_sse_carry_their_names_and_ids() -> None:
    body = get(stream_app(named_events), "sse").get_data()
    blocks = body.decode().split("\n\n")
    assert blocks[1] == "id: 2\nevent: row\ndata: <tr>\ndata: <td>1</td></tr>"  # str: raw
    assert blocks[2] == 'id: 3\nevent: stats\ndata: {"n":2}'  # others: JSON
    assert blocks[3] == "id: 4\ndata: last"
    records = [r for r in SSEDecoder().feed(body) if not isinstance(r, Ping)]
    assert records == [
        Data(1, "plain"),
        Data(2, "<tr>\n<td>1</td></tr>", "row"),
        Data(3, '{"n":2}', "stats"),
        Data(4, "last"),
        End(4),
    ]


def test_named_events_over_ndjson_and_text() -> None:
    client = stream_app(named_events)
    lines = [json.loads(line) for line in get(client, "ndjson").get_data().splitlines()]
    assert lines[1] == {"event": "data", "id": 2, "name": "row", "data": "<tr>\n<td>1</td></tr>"}
    assert lines[2] == {"event": "data", "id": 3, "name": "stats", "data": {"n": 2}}
    assert "name" not in lines[0] and "name" not in lines[3]
    assert lines[4] == {"event": "end", "count": 4}
    assert get(client, "text").get_data() == b'plain<tr>\n<td>1</td></tr>{"n":2}\nlast'


@pytest.mark.parametrize("fmt", ["ndjson", "sse", "text"])
@pytest.mark.parametrize("name", ["end", "a\nb"])
def test_a_refused_event_name_first_is_a_json_500(fmt: str, name: str) -> None:
    # Yielded as a record that skips Event's own check: the encoder refuses it too.
    response = get(stream_app(lambda: iter([Data(1, "x", name), "never"])), fmt)
    assert response.status_code == 500
    assert response.get_json()["error"]["type"] == "internal_error"


def test_a_refused_event_name_mid_stream_ends_with_an_error_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def producer() -> Iterator[Any]:
        yield Event("ok", "row")
        yield Event("x", "error")  # raises in the producer: ValueError naming it

    response = stream_app(producer).get("/s?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    records = [json.loads(line) for line in body.splitlines()]
    assert records[0] == {"event": "data", "id": 1, "name": "row", "data": "ok"}
    assert records[1]["event"] == "error"
    assert records[1]["error"]["type"] == "internal_error"
    assert "event name 'error' is reserved" in caplog.text  # the log names it, the client not


@pytest.mark.timeout(20)
def test_a_resumable_stream_replays_event_names_from_the_store() -> None:
    app = Flask(__name__)
    Streamer(app)

    @app.get("/s")
    def view() -> object:
        return stream(named_events(), format="ndjson", resumable=True)

    client = app.test_client()
    first = client.get("/s")
    sid = first.headers["X-Stream-Id"]
    first.get_data()
    first.close()
    expected = [
        Data(1, "plain"),
        Data(2, "<tr>\n<td>1</td></tr>", "row"),
        Data(3, {"n": 2}, "stats"),
        Data(4, "last"),
        End(4),
    ]
    replay = client.get(f"/streams/{sid}?format=ndjson", headers={"Last-Event-ID": "1"})
    decoder = NDJSONDecoder()
    assert [*decoder.feed(replay.get_data()), *decoder.close()] == expected[1:]
    sse = client.get(f"/streams/{sid}?format=sse&last_event_id=2").get_data()
    assert b"id: 3\nevent: stats\ndata: " in sse
    assert [r for r in SSEDecoder().feed(sse) if not isinstance(r, Ping)] == [
        Data(3, '{"n":2}', "stats"),
        Data(4, "last"),
        End(4),
    ]
