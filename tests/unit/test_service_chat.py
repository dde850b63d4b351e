"""Fast tier: chat request validation and the offline echo provider."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from streamer.service.echo_provider import echo_reply, tokens
from streamer.service.settings import ServiceConfig
from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End


@pytest.fixture
def client() -> FlaskClient:
    return create_app(ServiceConfig(echo_delay_s=0.0, heartbeat_s=1)).test_client()


def chat(client: FlaskClient, body: Any, fmt: str = "ndjson") -> Any:
    return client.post(f"/chat?format={fmt}", json=body)


USER = [{"role": "user", "content": "héllo  wörld"}]


def test_echo_streams_the_reply_token_by_token_with_usage(client: FlaskClient) -> None:
    response = chat(client, {"messages": USER})
    assert response.status_code == 200
    decoder = NDJSONDecoder()
    got = [*decoder.feed(response.data), *decoder.close()]
    expected = tokens(echo_reply("héllo  wörld"))
    assert [r.data for r in got if isinstance(r, Data)] == expected
    assert "".join(expected).startswith("You said: héllo wörld.")
    assert got[-1] == End(
        len(expected),
        {
            "usage": {
                "prompt_tokens": 2,
                "completion_tokens": len(expected),
                "total_tokens": 2 + len(expected),
            },
            "finish_reason": "stop",
        },
    )


def test_text_format_is_the_answer_itself(client: FlaskClient) -> None:
    response = chat(client, {"messages": USER, "max_tokens": 4}, fmt="text")
    assert response.data.decode() == "".join(tokens(echo_reply("héllo wörld"))[:4])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param({}, 422, "messages", id="missing-messages"),
        pytest.param({"messages": []}, 422, "messages", id="empty"),
        pytest.param({"messages": "hi"}, 422, "messages", id="not-a-list"),
        pytest.param({"messages": [{"role": "user"}]}, 422, "messages[0].content", id="no-content"),
        pytest.param(
            {"messages": [{"role": "robot", "content": "x"}]},
            422,
            "messages[0].role",
            id="bad-role",
        ),
        pytest.param(
            {"messages": [{"role": "system", "content": "x"}]}, 422, "messages", id="no-user"
        ),
        pytest.param({"messages": USER, "temperature": "hot"}, 422, "temperature", id="temp-type"),
        pytest.param({"messages": USER, "temperature": 2.5}, 422, "temperature", id="temp-range"),
        pytest.param({"messages": USER, "max_tokens": 0}, 422, "max_tokens", id="max-tokens"),
        pytest.param({"messages": USER, "max_tokens": True}, 422, "max_tokens", id="bool-int"),
        pytest.param({"messages": USER, "model": "a b"}, 422, "model", id="model"),
        pytest.param({"messages": USER, "resumable": "yes"}, 422, "resumable", id="resumable"),
        pytest.param({"messages": USER, "extra": 1}, 422, "extra", id="unknown-field"),
        pytest.param([USER], 400, None, id="not-an-object"),
        pytest.param({"messages": USER * 101}, 422, "messages", id="too-many"),
        pytest.param(
            {"messages": [{"role": "user", "content": "x" * 32_001}]},
            422,
            "messages[0].content",
            id="too-long",
        ),
    ],
)
def test_bad_bodies_name_the_field(
    client: FlaskClient, body: Any, status: int, field: str | None
) -> None:
    response = chat(client, body)
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert set(error) == {"type", "message"}
    if field:
        assert f"'{field}'" in error["message"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "type"),
    [
        pytest.param(b"{", "application/json", 400, "invalid_json", id="malformed"),
        pytest.param(b"\xff\xfe{}", "application/json", 400, "invalid_json", id="not-utf8"),
        pytest.param(
            json.dumps({"messages": USER}).encode(),
            "text/plain",
            415,
            "unsupported_media_type",
            id="wrong-type",
        ),
        pytest.param(b"", None, 415, "unsupported_media_type", id="no-type"),
    ],
)
def test_malformed_bodies(
    client: FlaskClient, data: bytes, content_type: str | None, status: int, type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/chat", data=data, headers=headers)
    assert response.status_code == status
    assert response.json["error"]["type"] == type


def test_oversized_body_is_413_json(client: FlaskClient) -> None:
    response = client.post("/chat", data=b"x" * (2 << 20), content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["type"] == "request_entity_too_large"


def test_get_chat_is_405_json(client: FlaskClient) -> None:
    response = client.get("/chat")
    assert response.status_code == 405 and response.json["error"]["type"] == "method_not_allowed"


def test_resumable_chat_can_be_resumed_from_any_id() -> None:
    client = create_app(ServiceConfig(echo_delay_s=0.0, heartbeat_s=1)).test_client()
    started = client.post("/chat?format=ndjson", json={"messages": USER, "resumable": True})
    assert started.status_code == 200
    stream_id = started.headers["X-Stream-Id"]
    decoder = NDJSONDecoder()
    full = [*decoder.feed(started.data), *decoder.close()]
    assert isinstance(full[-1], End) and full[-1].extra["usage"]["completion_tokens"] > 3
    resumed = client.get(f"/streams/{stream_id}?format=ndjson", headers={"Last-Event-ID": "3"})
    decoder = NDJSONDecoder()
    rest = [*decoder.feed(resumed.data), *decoder.close()]
    assert rest == full[3:]
