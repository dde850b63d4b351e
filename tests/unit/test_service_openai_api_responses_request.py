"""A /v1/responses body: what it becomes for a provider, and the 400 naming each bad field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.errors import BadRequest, InvalidParameter
from streamer.service.openai_api.responses.request import parse_responses_body

JSON = "application/json"


def parse(**body: Any) -> Any:
    return parse_responses_body(JSON, json.dumps({"model": "m", "input": "hi", **body}).encode())


def test_a_string_input_is_one_user_message_after_the_instructions() -> None:
    parsed = parse(instructions="be brief", max_output_tokens=5, temperature=0.2, top_p=0.5)
    assert parsed.chat.messages == (
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    )
    assert parsed.chat.max_tokens == 5 and parsed.chat.temperature == 0.2
    assert parsed.chat.sampling == {"top_p": 0.5}
    assert not parsed.stream and not parsed.background
    assert parsed.echo["instructions"] == "be brief" and parsed.echo["top_p"] == 0.5


def test_items_become_chat_messages_with_tool_calls_and_results() -> None:
    parsed = parse(
        input=[
            {"role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        tools=[{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "w"},
    )
    roles = [m["role"] for m in parsed.chat.messages]
    assert roles == ["developer", "user", "assistant", "tool"]
    assert parsed.chat.messages[2]["tool_calls"][0]["function"] == {"name": "w", "arguments": "{}"}
    assert parsed.chat.messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    assert parsed.chat.tools == (
        {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}},
    )
    assert parsed.chat.tool_options == {
        "tool_choice": {"type": "function", "function": {"name": "w"}}
    }


def test_background_is_resumable_and_needs_store() -> None:
    assert parse(background=True, stream=True).chat.resumable
    with pytest.raises(InvalidParameter) as info:
        parse(background=True, store=False)
    assert info.value.param == "background"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"input": None}, "input", id="missing-input"),
        pytest.param({"input": 5}, "input", id="input-type"),
        pytest.param({"input": [{"role": "assistant", "content": "x"}]}, "input", id="no-user"),
        pytest.param({"input": [{"type": "reasoning"}]}, "input[0].type", id="item-type"),
        pytest.param({"input": [{"role": "user", "content": 3}]}, "input[0].content", id="content"),
        pytest.param({"model": ""}, "model", id="model"),
        pytest.param({"stream": "yes"}, "stream", id="stream"),
        pytest.param({"temperature": 2.5}, "temperature", id="temperature"),
        pytest.param({"max_output_tokens": 1.5}, "max_output_tokens", id="max-tokens"),
        pytest.param({"metadata": {"k": 1}}, "metadata.k", id="metadata"),
        pytest.param({"tools": [{"type": "function", "name": "a b"}]}, "tools[0].name", id="name"),
        pytest.param({"tool_choice": "required"}, "tool_choice", id="choice-without-tools"),
        pytest.param({"previous_response_id": "resp_1"}, "previous_response_id", id="previous"),
        pytest.param({"text": {"format": {"type": "json_object"}}}, "text", id="unknown"),
    ],
)
def test_a_bad_field_is_named(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse(**body)
    assert info.value.param == param and info.value.status == 400


def test_the_body_must_be_json() -> None:
    with pytest.raises(BadRequest) as info:
        parse_responses_body("text/plain", b"{}")
    assert info.value.status == 415
    with pytest.raises(BadRequest):
        parse_responses_body(JSON, b"[]")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    ["model", "input", "instructions", "tools", "tool_choice", "metadata", "max_output_tokens",
     "temperature", "top_p", "stream", "background", "store", "parallel_tool_calls", "user"]
)  # fmt: skip


@given(st.dictionaries(_FIELDS, _JSON, max_size=6), st.booleans())
def test_any_body_is_parsed_or_a_400_never_another_error(body: dict[str, Any], base: bool) -> None:
    if base:
        body = {"model": "m", "input": "hi", **body}
    try:
        parse_responses_body(JSON, json.dumps(body).encode())
    except BadRequest as exc:
        assert exc.status in (400, 415)
