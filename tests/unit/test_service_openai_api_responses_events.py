"""Answer events -> Responses stream events, in OpenAI's order, and their fold."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.llm.events import (
    AnswerEvent,
    Finish,
    ReasoningDelta,
    Refusal,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from streamer.service.openai_api.responses.events import new_response_id, response_events, shell
from streamer.service.openai_api.responses.fold import Fold
from streamer.service.openai_api.usage import UsageMeter


def run(answer: list[AnswerEvent], background: bool = False) -> list[dict[str, Any]]:
    start = shell(new_response_id(), {"model": "m"}, background=background)
    meter = UsageMeter(None, "/v1/responses", "m", None)
    return list(response_events(iter(answer), start, meter))


def types(events: list[dict[str, Any]]) -> list[str]:
    kinds = [e["type"] for e in events]
    return [t for i, t in enumerate(kinds) if i == 0 or kinds[i - 1] != t]


def test_text_in_openais_order_with_numbers_and_usage() -> None:
    events = run([TextDelta("Hel"), TextDelta("lo"), Usage(3, 2), Finish("stop")])
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["input_tokens"] == 3 and final["usage"]["output_tokens"] == 2
    assert final["usage"]["total_tokens"] == 5


def test_the_fold_of_the_events_is_the_completed_response() -> None:
    events = run([TextDelta("a"), Refusal("no"), ToolCallStart("c1", "f"),
                  ToolCallDelta("c1", '{"x":'), ToolCallDelta("c1", "1}"),
                  ToolCallEnd("c1", "f", '{"x":1}'), Finish("tool_calls")])  # fmt: skip
    fold = Fold()
    for event in events[:-1]:
        fold.add(event)
    final = events[-1]["response"]
    assert fold.response()["output"] == final["output"]
    message, call = final["output"]
    assert [p["type"] for p in message["content"]] == ["output_text", "refusal"]
    assert message["content"][1]["refusal"] == "no"
    assert call["type"] == "function_call" and call["arguments"] == '{"x":1}'
    assert call["call_id"] == "c1" and call["status"] == "completed"
    refusal = [e for e in events if e["type"] == "response.refusal.delta"]
    assert refusal[0]["content_index"] == 1


def test_a_cut_reply_is_incomplete() -> None:
    final = run([TextDelta("a"), Finish("length")])[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["status"] == "incomplete"


def test_a_background_response_is_created_queued_before_the_provider_answers() -> None:
    start = shell(new_response_id(), {"model": "m"}, background=True)
    meter = UsageMeter(None, "/v1/responses", "m", None)

    def silent() -> Any:
        raise RuntimeError("upstream down")
        yield

    events = response_events(silent(), start, meter)
    first = next(events)
    assert first["type"] == "response.created" and first["response"]["status"] == "queued"
    with pytest.raises(RuntimeError):
        next(events)


def test_a_plain_response_says_nothing_before_the_providers_first_event() -> None:
    start = shell(new_response_id(), {"model": "m"}, background=False)
    meter = UsageMeter(None, "/v1/responses", "m", None)

    def failing() -> Any:
        raise RuntimeError("upstream 429")
        yield

    with pytest.raises(RuntimeError):
        next(response_events(failing(), start, meter))


def test_closing_the_events_closes_the_provider() -> None:
    closed = []

    def provider() -> Any:
        try:
            while True:
                yield TextDelta("x")
        finally:
            closed.append(True)

    start = shell(new_response_id(), {"model": "m"}, background=False)
    events = response_events(provider(), start, UsageMeter(None, "/", "m", None))
    for _ in range(6):
        next(events)
    events.close()
    assert closed == [True]


def test_reasoning_is_a_reasoning_item_before_the_message() -> None:
    events = run([ReasoningDelta("think"), ReasoningDelta("ing"), TextDelta("ok"), Finish()])
    assert types(events)[2:9] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ]
    reasoning, message = events[-1]["response"]["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "thinking"}]
    assert message["content"][0]["text"] == "ok"
    assert [e["output_index"] for e in events if e["type"].endswith(".delta")] == [0, 0, 1]
