"""Fast tier: the /v1 request validator (streamer.service.openai_api.request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer.errors import BadRequest
from streamer.service.openai_api.errors import InvalidParameter
from streamer.service.openai_api.request import parse_completion_body

USER = [{"role": "user", "content": "hi"}]


def parse(body: Any, header: bool = False, content_type: str = "application/json") -> Any:
    return parse_completion_body(content_type, json.dumps(body).encode(), resumable_header=header)


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "the weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
]


def test_a_minimal_body() -> None:
    got = parse({"model": "m", "messages": USER})
    assert (got.stream, got.include_usage, got.resumable) == (False, False, False)
    assert got.chat.messages == ({"role": "user", "content": "hi"},) and got.model == "m"


def test_streamed_options_and_text_parts() -> None:
    got = parse(
        {
            "model": "m",
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 7,
            "temperature": 0.5,
            "user": "u",
            "seed": 1,
            "streamer": {"resumable": True},
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
        }
    )
    assert got.stream and got.include_usage and got.resumable
    assert got.chat.max_tokens == 7 and got.chat.temperature == 0.5
    assert got.chat.last_user_message == "a\nb"


def test_the_header_makes_a_streamed_answer_resumable() -> None:
    assert parse({"model": "m", "messages": USER, "stream": True}, header=True).resumable
    # A client's default header on a whole answer: nothing to resume, and no error.
    assert not parse({"model": "m", "messages": USER}, header=True).resumable


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"messages": USER}, "model", id="no-model"),
        pytest.param({"model": "a b", "messages": USER}, "model", id="bad-model"),
        pytest.param({"model": "m"}, "messages", id="no-messages"),
        pytest.param(
            {"model": "m", "messages": [{"role": "system", "content": "x"}]},
            "messages",
            id="no-user",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            id="role",
        ),
        pytest.param(
            {"model": "m", "messages": [*USER, {"role": "tool", "content": "x"}]},
            "messages[1].tool_call_id",
            id="tool-without-call-id",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x", "tool_call_id": "c"}]},
            "messages[0].tool_call_id",
            id="call-id-on-a-user-message",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x", "tool_calls": []}]},
            "messages[0].tool_calls",
            id="calls-on-a-user-message",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "tools": [{"type": "web", "function": {}}]},
            "tools[0].type",
            id="tool-type",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
            id="tool-name",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "tool_choice": "auto"},
            "tool_choice",
            id="choice-without-tools",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "tools": TOOLS, "tool_choice": "sometimes"},
            "tool_choice",
            id="bad-choice",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": USER,
                "tools": TOOLS,
                "tool_choice": {"type": "function", "function": {"name": "other"}},
            },
            "tool_choice",
            id="choice-of-an-unknown-tool",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x", "tool_calls": []}]},
            "messages[0].tool_calls",
            id="message-field",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0]",
            id="image-part",
        ),
        pytest.param({"model": "m", "messages": USER, "stream": "yes"}, "stream", id="stream"),
        pytest.param(
            {"model": "m", "messages": USER, "stream": True, "stream_options": {"x": 1}},
            "stream_options.x",
            id="stream-option",
        ),
        pytest.param({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens", id="max"),
        pytest.param({"model": "m", "messages": USER, "n": 9}, "n", id="n"),
        pytest.param(
            {"model": "m", "messages": USER, "top_logprobs": 2}, "top_logprobs", id="top-alone"
        ),
        pytest.param(
            {"model": "m", "messages": USER, "response_format": {"type": "yaml"}},
            "response_format.type",
            id="format",
        ),
        pytest.param({"model": "m", "messages": USER, "store": True}, "store", id="store"),
        pytest.param(
            {"model": "m", "messages": USER, "modalities": ["audio"]},
            "modalities",
            id="unsupported",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "streamer": {"resumable": True}},
            "streamer.resumable",
            id="resumable-needs-stream",
        ),
        pytest.param(
            {"model": "m", "messages": USER, "stream": True, "streamer": {"x": 1}},
            "streamer.x",
            id="streamer-option",
        ),
    ],
)
def test_a_bad_field_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse(body)
    assert info.value.param == param and info.value.status == 400


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        pytest.param(b"{", "application/json", 400, id="json"),
        pytest.param(b"[]", "application/json", 400, id="not-object"),
        pytest.param(b"\xff", "application/json", 400, id="utf8"),
        pytest.param(b"{}", "text/plain", 415, id="media-type"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "application/json", 400, id="huge-int"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "application/json", 400, id="deep"),
    ],
)
def test_a_body_that_is_not_a_json_object(raw: bytes, content_type: str, status: int) -> None:
    with pytest.raises(BadRequest) as info:
        parse_completion_body(content_type, raw)
    assert info.value.status == status


LONG = "k" * 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"model": "m", "messages": USER, LONG: 1}, id="top-level"),
        pytest.param(
            {"model": "m", "messages": USER, "stream": True, "stream_options": {LONG: 1}},
            id="stream_options",
        ),
        pytest.param({"model": "m", "messages": USER, "streamer": {LONG: 1}}, id="streamer"),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "hi", LONG: 1}]},
            id="message",
        ),
    ],
)
def test_an_unknown_key_is_quoted_back_cut_at_40_characters(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse(body)
    for text in (caught.value.message, caught.value.param):
        assert "k" * 40 in text, text
        assert "k" * 41 not in text, text


def test_the_sampling_settings_the_ai_sdk_sends_are_taken_and_kept() -> None:
    got = parse(
        {
            "model": "m",
            "messages": USER,
            "top_p": 0.9,
            "stop": "\n\n",
            "seed": 42,
            "frequency_penalty": -0.5,
            "presence_penalty": 1,
        }
    )
    assert dict(got.chat.sampling) == {
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 42,
        "frequency_penalty": -0.5,
        "presence_penalty": 1,
    }
    assert got.chat.stop == ("\n\n",)
    assert parse({"model": "m", "messages": USER, "stop": ["a", "b"]}).chat.stop == ("a", "b")
    assert dict(parse({"model": "m", "messages": USER}).chat.sampling) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("top_p", 1.5),
        ("top_p", "high"),
        ("top_p", True),
        ("frequency_penalty", -3),
        ("presence_penalty", "2"),
        ("seed", 1.5),
        ("seed", 2**63),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stop", [""]),
        ("stop", 7),
        ("stop", ["x" * 201]),
    ],
)
def test_a_bad_sampling_setting_is_a_400_naming_it(field: str, value: object) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse({"model": "m", "messages": USER, field: value})
    assert caught.value.param == field


def test_tools_a_tool_round_and_the_choice_are_kept_as_sent() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 3}'},
    ]
    got = parse(
        {
            "model": "m",
            "messages": messages,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": False,
        }
    ).chat
    assert got.messages == tuple(messages)
    assert got.tools == tuple(TOOLS)
    assert dict(got.tool_options) == {
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
    }
