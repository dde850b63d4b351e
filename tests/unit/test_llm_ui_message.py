"""Fast tier of streamer.llm.ui_message: ``stream(events, format="ui-message")`` through
Flask's test client, part by part (the real ``ai`` package reading them:
tests/real/test_ui_message_node.py)."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamer import Event
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
from streamer.llm.formats import UI_MESSAGE, ui_message
from streamer.llm.ui_message import UIMessageSSE, ui_message_parts

from .test_llm_formats import serve

TOOL_ANSWER = [
    ReasoningDelta("Weather, "),
    ReasoningDelta("so a tool."),
    ToolCallStart("call_1", "weather", 0),
    ToolCallDelta("call_1", '{"city":'),
    ToolCallDelta("call_1", '"Oslo"}'),
    ToolCallEnd("call_1", "weather", '{"city":"Oslo"}'),
    ToolResult("call_1", {"temp": 3}),
    TextDelta("It is "),
    TextDelta("3 °C."),
    Usage(3, 5),
    Finish("stop"),
]

TOOL_PARTS = [
    {"type": "start-step"},
    {"type": "reasoning-start", "id": "reasoning-1"},
    {"type": "reasoning-delta", "id": "reasoning-1", "delta": "Weather, "},
    {"type": "reasoning-delta", "id": "reasoning-1", "delta": "so a tool."},
    {"type": "reasoning-end", "id": "reasoning-1"},
    {"type": "tool-input-start", "toolCallId": "call_1", "toolName": "weather"},
    {"type": "tool-input-delta", "toolCallId": "call_1", "inputTextDelta": '{"city":'},
    {"type": "tool-input-delta", "toolCallId": "call_1", "inputTextDelta": '"Oslo"}'},
    {
        "type": "tool-input-available",
        "toolCallId": "call_1",
        "toolName": "weather",
        "input": {"city": "Oslo"},
    },
    {"type": "tool-output-available", "toolCallId": "call_1", "output": {"temp": 3}},
    {"type": "finish-step"},
    {"type": "start-step"},  # the model again, with the result
    {"type": "text-start", "id": "text-2"},
    {"type": "text-delta", "id": "text-2", "delta": "It is "},
    {"type": "text-delta", "id": "text-2", "delta": "3 °C."},
    {"type": "text-end", "id": "text-2"},
    {"type": "finish-step"},
    {"type": "finish", "finishReason": "stop"},
]


def parts(blocks: list[str]) -> list[Any]:
    return [json.loads(b) for b in blocks if b not in ("[DONE]", "<cut>")]


@pytest.mark.timeout(10)
def test_an_answer_with_a_tool_call_becomes_ui_message_parts() -> None:
    response, blocks = serve(iter(TOOL_ANSWER), format="ui-message")
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    got = parts(blocks)
    assert got[0]["type"] == "start" and got[0]["messageId"].startswith("msg-")
    assert got[1:] == TOOL_PARTS
    assert blocks[-1] == "[DONE]"


@pytest.mark.timeout(10)
def test_an_async_producer_gives_the_same_parts() -> None:
    async def events() -> AsyncIterator[Any]:
        for event in TOOL_ANSWER:
            await asyncio.sleep(0)
            yield event

    _, blocks = serve(events(), format="ui-message")
    assert parts(blocks)[1:] == TOOL_PARTS and blocks[-1] == "[DONE]"


@pytest.mark.timeout(10)
def test_a_failure_mid_answer_is_an_error_part_and_no_done() -> None:
    def failing() -> Iterator[Any]:
        yield TextDelta("Hel")
        raise UpstreamError("the upstream went away", type="upstream_disconnected")

    _, blocks = serve(failing(), format="ui-message")
    assert parts(blocks)[1:] == [
        {"type": "start-step"},
        {"type": "text-start", "id": "text-1"},
        {"type": "text-delta", "id": "text-1", "delta": "Hel"},
        {"type": "error", "errorText": "the upstream went away"},
    ]
    assert blocks[-1] == "<cut>"  # no [DONE], no finish: the chat ends in error


@pytest.mark.timeout(10)
def test_data_parts_from_events_and_dicts_and_ai5_gets_no_finish_reason() -> None:
    producer = iter(
        [
            Event({"city": "Oslo"}, "weather"),
            {"type": "data-status", "id": "s1", "data": "busy"},
            Refusal("I can't."),
            Finish("content_filter"),
        ]
    )
    _, blocks = serve(producer, format=ui_message(ai=5))
    assert parts(blocks) == [
        {"type": "data-weather", "data": {"city": "Oslo"}},
        {"type": "data-status", "id": "s1", "data": "busy"},
        {"type": "start", "messageId": parts(blocks)[2]["messageId"]},
        {"type": "start-step"},
        {"type": "text-start", "id": "text-1"},
        {"type": "text-delta", "id": "text-1", "delta": "I can't."},
        {"type": "text-end", "id": "text-1"},
        {"type": "finish-step"},
        {"type": "finish"},  # ai 5's schema has no finishReason
    ]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param("tool_calls", "tool-calls", id="tool_calls"),
        pytest.param("content_filter", "content-filter", id="content_filter"),
        pytest.param("length", "length", id="length"),
        pytest.param("pause_turn", "other", id="unknown"),
    ],
)
def test_finish_reasons_in_the_sdks_spelling(reason: str, expected: str) -> None:
    got = list(ui_message_parts(iter([Finish(reason)]), message_id="m"))
    assert got == [
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": expected},
    ]


def test_arguments_that_are_not_json_are_a_tool_input_error() -> None:
    got = list(ui_message_parts(iter([ToolCallEnd("c", "f", "{oops"), Finish()]), message_id="m"))
    assert got[2]["type"] == "tool-input-error" and got[2]["input"] == "{oops"
    assert got[2]["errorText"].startswith("the arguments are not JSON")
    empty = list(ui_message_parts(iter([ToolCallEnd("c", "f", "")]), message_id="m"))
    assert empty[2]["input"] == {}


def test_the_encoder_is_data_only() -> None:
    assert UIMessageSSE.data(3, {"type": "text-delta"}) == b'data: {"type":"text-delta"}\n\n'
    assert UIMessageSSE.event(3, "x", 1) == b'data: {"type":"data-x","data":1}\n\n'
    assert UIMessageSSE.end(3) == b"data: [DONE]\n\n"
    assert UIMessageSSE.error("t", "m") == b'data: {"type":"error","errorText":"m"}\n\n'
    assert UIMessageSSE.ping() == b": ping\n\n"


@pytest.mark.timeout(10)
def test_the_apps_json_default_serialises_a_tool_results_output() -> None:
    events = [ToolCallEnd("c", "clock", ""), ToolResult("c", {"at": datetime.date(2026, 1, 2)})]
    _, blocks = serve(iter(events), json_default=str, format="ui-message")
    assert parts(blocks)[3] == {
        "type": "tool-output-available",
        "toolCallId": "c",
        "output": {"at": "2026-01-02"},
    }
    assert UI_MESSAGE.encoder is UIMessageSSE  # the app's is derived from it, once per app
