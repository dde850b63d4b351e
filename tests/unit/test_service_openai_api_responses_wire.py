"""The Responses API's named SSE; failures written from the fold of what went out."""

from __future__ import annotations

import json
from typing import Any

from streamer.service.openai_api.responses.wire import CANCELLED_MARK, encoder_for
from streamer.store import CANCELLED


def parse(raw: bytes) -> tuple[str, dict[str, Any]]:
    head, data = raw.decode().rstrip("\n").split("\n")
    assert head.startswith("event: ") and data.startswith("data: ")
    return head[7:], json.loads(data[6:])


CREATED = {"type": "response.created", "sequence_number": 0,
           "response": {"id": "resp_1", "object": "response", "status": "in_progress",
                        "output": []}}  # fmt: skip
ADDED = {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {"id": "msg_1", "type": "message", "status": "in_progress", "content": [],
                  "role": "assistant"}}  # fmt: skip


def test_an_event_is_named_by_its_type_and_the_end_adds_nothing() -> None:
    enc = encoder_for()
    assert parse(enc.data(1, CREATED)) == ("response.created", CREATED)
    assert enc.end(1) == b"" and enc.ping() == b": ping\n"


def test_a_failure_is_response_failed_with_the_output_so_far_and_the_next_number() -> None:
    enc = encoder_for()
    enc.data(1, CREATED)
    enc.data(2, ADDED)
    name, event = parse(enc.error("upstream_timeout", "the upstream went silent"))
    assert name == "response.failed" and event["sequence_number"] == 2
    response = event["response"]
    assert response["status"] == "failed" and response["id"] == "resp_1"
    assert response["error"] == {"code": "upstream_timeout", "message": "the upstream went silent"}
    assert response["output"][0]["status"] == "incomplete"


def test_a_cancel_is_response_incomplete_with_status_cancelled() -> None:
    enc = encoder_for()
    enc.data(1, CREATED)
    name, event = parse(enc.data(2, CANCELLED_MARK))
    assert name == "response.incomplete" and event["response"]["status"] == "cancelled"
    assert event["sequence_number"] == 1
    other = encoder_for()
    other.data(1, CREATED)
    assert parse(other.error(CANCELLED.type, CANCELLED.message))[0] == "response.incomplete"


def test_an_interruption_is_an_error_event_not_the_responses_end() -> None:
    enc = encoder_for()
    enc.data(1, CREATED)
    name, event = parse(enc.error("shutdown", "the server is restarting"))
    assert name == "error" and event["code"] == "shutdown"
    assert event["sequence_number"] == 0  # no number of its own: the last one framed


def test_each_stream_folds_on_its_own() -> None:
    one, two = encoder_for(), encoder_for()
    one.data(1, CREATED)
    one.data(2, ADDED)
    assert parse(two.error("internal_error", "x"))[1]["response"]["output"] == []
    assert len(parse(one.error("internal_error", "x"))[1]["response"]["output"]) == 1
