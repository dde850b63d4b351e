"""Fast tier of streamer.service.chat_body: a chat body validated into a ChatRequest (through the
/chat view: tests/unit/test_service_chat.py)."""

from __future__ import annotations

import json

import pytest

from streamer.errors import BadRequest
from streamer.service.chat_body import ChatRequest, InvalidField, parse_chat_body

USER = {"role": "user", "content": "hi"}


def parse(body: object, content_type: str = "application/json") -> ChatRequest:
    return parse_chat_body(content_type, json.dumps(body).encode(), "echo-1")


def test_a_valid_body_with_defaults_and_the_last_user_message() -> None:
    request = parse(
        {
            "messages": [
                USER,
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"},
            ]
        }
    )
    assert (request.model, request.temperature, request.max_tokens, request.resumable) == (
        "echo-1",
        None,
        None,
        False,
    )
    assert request.last_user_message == "again"
    full = parse(
        {
            "messages": [USER],
            "model": "m-2",
            "temperature": 0.5,
            "max_tokens": 9,
            "resumable": True,
        },
        "application/vnd.api+json; charset=utf-8",
    )
    assert (full.model, full.temperature, full.max_tokens, full.resumable) == ("m-2", 0.5, 9, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"messages": [USER], "temperature": 3}, "temperature", id="temperature"),
        pytest.param({"messages": [USER], "top_p": 1}, "top_p", id="unknown"),
        pytest.param({"messages": [{"role": "user"}]}, "messages[0].content", id="content"),
    ],
)
def test_a_bad_field_is_a_422_naming_it(body: object, field: str) -> None:
    with pytest.raises(InvalidField) as info:
        parse(body)
    assert info.value.status == 422 and f"'{field}'" in str(info.value)


def test_not_json_is_415_and_not_an_object_is_400() -> None:
    with pytest.raises(BadRequest) as info:
        parse({"messages": [USER]}, "text/plain")
    assert info.value.status == 415
    with pytest.raises(BadRequest) as info:
        parse([USER])
    assert info.value.status == 400 and info.value.type == "invalid_json"
