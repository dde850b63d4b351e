"""streamer.llm.events: each event names itself in JSON, in a plain format too."""

from __future__ import annotations

import json

import pytest

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
from streamer.wire.framing import NDJSON, json_bytes


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (TextDelta("Hi"), {"type": "text-delta", "text": "Hi"}),
        (ReasoningDelta("hmm"), {"type": "reasoning-delta", "text": "hmm"}),
        (Refusal("no"), {"type": "refusal", "text": "no"}),
        (
            ToolCallStart("call_1", "weather", 1),
            {"type": "tool-call-start", "id": "call_1", "name": "weather", "index": 1},
        ),
        (
            ToolCallDelta("call_1", '{"ci'),
            {"type": "tool-call-delta", "id": "call_1", "arguments": '{"ci'},
        ),
        (
            ToolCallEnd("call_1", "weather", '{"city":"Oslo"}'),
            {
                "type": "tool-call-end",
                "id": "call_1",
                "name": "weather",
                "arguments": '{"city":"Oslo"}',
            },
        ),
        (
            ToolResult("call_1", {"c": 3}),
            {"type": "tool-result", "id": "call_1", "output": {"c": 3}},
        ),
        (Usage(3, 5), {"type": "usage", "prompt_tokens": 3, "completion_tokens": 5, "extra": {}}),
        (Finish("length"), {"type": "finish", "reason": "length"}),
    ],
)
def test_each_event_is_one_json_object_with_its_type_first(
    event: object, expected: dict[str, object]
) -> None:
    raw = json_bytes(event)
    assert json.loads(raw) == expected
    assert raw.startswith(b'{"type":"' + str(expected["type"]).encode() + b'"')
    line = json.loads(NDJSON.data(1, event))
    assert line["data"] == expected


def test_the_type_is_not_an_argument() -> None:
    with pytest.raises(TypeError):
        TextDelta("x", "other")  # type: ignore[call-arg]
    assert Finish().reason == "stop"


def test_usage_as_openai_totals_and_keeps_the_upstreams_extras() -> None:
    usage = Usage(10, 4, {"prompt_tokens_details": {"cached_tokens": 2}})
    assert usage.total_tokens == 14
    assert usage.as_openai() == {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 2},
    }
