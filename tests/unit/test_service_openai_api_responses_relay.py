"""Fast tier of streamer.service.openai_api.responses.relay (and the Responses feed of
streamer.llm.openai_provider): what a pass-through request forwards, which events are read
and how, the gateway's own failure event. Over the fake upstream, with the official SDKs:
tests/real/test_openai_responses_passthrough.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer.llm.openai_provider import _Events
from streamer.service.openai_api.errors import InvalidParameter
from streamer.service.openai_api.responses.relay import (
    RelayState,
    encoder_for_relay,
    parse_responses_relay,
    relayed_events,
)

CREATED = {"id": "resp_1", "object": "response", "status": "in_progress", "x_future": 1e-07}


def block(kind: str, seq: int, **fields: Any) -> str:
    payload = {"type": kind, "sequence_number": seq, **fields}
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n"


class Meter:
    def __init__(self) -> None:
        self.tokens = 0
        self.usage: dict[str, Any] | None = None
        self.outcome: str | None = None

    def token(self) -> None:
        self.tokens += 1

    def provider_usage(self, usage: dict[str, Any]) -> None:
        self.usage = usage

    def finish(self, outcome: str) -> None:
        self.outcome = outcome


def test_everything_but_streamers_own_object_is_forwarded_and_background_is_not_relayed() -> None:
    body = {
        "model": "gpt-x",
        "input": "hi",
        "stream": True,
        "previous_response_id": "resp_0",
        "reasoning": {"effort": "low", "summary": "auto"},
        "tools": [{"type": "web_search"}],
        "x_next_year": [1],
        "streamer": {"resumable": True},
    }
    got = parse_responses_relay("application/json", json.dumps(body).encode())
    assert got is not None and got.stream and got.model == "gpt-x"
    assert got.body == {k: v for k, v in body.items() if k != "streamer"}
    background = {**body, "background": True}
    assert parse_responses_relay("application/json", json.dumps(background).encode()) is None
    with pytest.raises(InvalidParameter) as bad:
        parse_responses_relay("application/json", b'{"model": "m", "stream": "yes"}')
    assert bad.value.param == "stream"


def test_the_feed_hands_on_each_event_block_as_sent_and_stops_at_the_terminal_one() -> None:
    events = [
        block("response.created", 0, response=CREATED),
        block("response.output_text.delta", 1, delta="h\u00e9"),
        block("response.completed", 2, response={**CREATED, "status": "completed"}),
    ]
    wire = "".join(events).encode()
    feed = _Events()
    got: list[str] = []
    for i in range(0, len(wire), 7):  # split anywhere, a multi-byte character included
        got += feed.feed(wire[i : i + 7])
    assert got == events and feed.done
    error = _Events()
    assert error.feed(block("error", 0, code="server_error").encode()) == [
        block("error", 0, code="server_error")
    ]
    assert error.done  # the upstream's in-band end: passed on, and the stream is over


def test_the_relay_counts_the_deltas_reads_the_usage_and_passes_every_event_on() -> None:
    usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    events = [
        block("response.created", 0, response=CREATED),
        block("response.output_text.delta", 1, delta="a"),
        block("response.output_text.delta", 2, delta="b"),
        block("response.completed", 3, response={**CREATED, "usage": usage}),
    ]
    meter, state = Meter(), RelayState()
    closed: list[bool] = []

    def upstream() -> Any:
        try:
            yield events[:2]
            yield events[2:]
        finally:
            closed.append(True)

    assert list(relayed_events(upstream(), meter, state)) == events  # type: ignore[arg-type]
    assert meter.tokens == 2 and closed == [True]
    assert meter.usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert state.blocks == events  # kept for a failure event, not parsed


def test_a_failure_after_the_first_event_is_a_failed_response_with_its_output_so_far() -> None:
    message = {"id": "msg_1", "type": "message", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    state = RelayState(
        [
            block("response.created", 0, response={**CREATED, "output": []}),
            block("response.output_item.added", 1, output_index=0, item=message),
            block("response.content_part.added", 2, **ids, part=part),
            block("response.output_text.delta", 3, **ids, delta="hé"),
            block("response.reasoning_summary_text.delta", 4, delta="?"),  # not folded
            block("response.output_text.delta", 5, **ids, delta=" there"),
        ]
    )
    encoder = encoder_for_relay(state)
    assert encoder.data(1, "event: x\ndata: {}\n\n") == b"event: x\ndata: {}\n\n"
    head, data = encoder.error("upstream_incomplete", "cut").decode().split("\n")[:2]
    assert head == "event: response.failed"
    failed = json.loads(data[6:])
    assert failed["sequence_number"] == 6
    response = failed["response"]
    assert response["id"] == "resp_1" and response["x_future"] == 1e-07
    assert response["status"] == "failed"
    assert response["error"] == {"code": "upstream_incomplete", "message": "cut"}
    assert response["output"][0]["content"][0]["text"] == "hé there"
    assert response["output"][0]["status"] == "incomplete"
    # This server going away is not the response's end: an error event, as on the built path.
    shutdown = encoder.error("shutdown", "restarting").decode()
    assert shutdown.startswith("event: error\n") and '"code":"shutdown"' in shutdown
    assert encoder_for_relay(RelayState()).state is not state  # a class per stream
