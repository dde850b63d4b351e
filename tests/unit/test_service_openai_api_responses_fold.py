"""The response object a sequence of Responses events describes."""

from __future__ import annotations

from typing import Any

from streamer.service.openai_api.responses.fold import Fold

CREATED: dict[str, Any] = {"type": "response.created", "sequence_number": 0,
                           "response": {"id": "resp_1", "object": "response",
                                        "status": "in_progress", "output": []}}  # fmt: skip


def test_deltas_build_the_output_as_far_as_it_went() -> None:
    fold = Fold()
    assert not fold.started and fold.response()["status"] == "queued"
    fold.add(CREATED)
    item = {"id": "m", "type": "message", "status": "in_progress", "content": []}
    fold.add({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
              "item": item})  # fmt: skip
    fold.add({"type": "response.content_part.added", "sequence_number": 2, "output_index": 0,
              "content_index": 0, "part": {"type": "output_text", "text": ""}})  # fmt: skip
    for seq, delta in enumerate(["Hel", "lo"], start=3):
        fold.add({"type": "response.output_text.delta", "sequence_number": seq,
                  "output_index": 0, "content_index": 0, "delta": delta})  # fmt: skip
    assert fold.last == 4 and fold.started
    assert fold.response()["output"][0]["content"][0]["text"] == "Hello"
    assert item["content"] == []  # the event's own objects are not changed


def test_an_ended_response_leaves_open_items_incomplete() -> None:
    fold = Fold()
    fold.add(CREATED)
    fold.add({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
              "item": {"id": "fc", "type": "function_call", "status": "in_progress",
                       "arguments": ""}})  # fmt: skip
    failed = fold.ended("failed", "upstream_timeout", "silent")
    assert failed["status"] == "failed" and failed["output"][0]["status"] == "incomplete"
    assert failed["error"] == {"code": "upstream_timeout", "message": "silent"}
    cancelled = fold.ended("cancelled", "cancelled", "the stream was cancelled")
    assert cancelled["status"] == "cancelled" and cancelled["error"] is None
