"""The Responses API's face: what register() mounts and which endpoints are streams."""

from __future__ import annotations

from app import create_app
from streamer.service.openai_api import STREAM_ENDPOINTS
from streamer.service.openai_api.responses import STREAM_ENDPOINTS as RESPONSES


def test_the_routes_are_mounted_and_their_streams_take_a_keys_slot() -> None:
    app = create_app({"STREAMER_ECHO_DELAY_S": "0"})
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert rules["/v1/responses"] == "openai_responses.create"
    assert rules["/v1/responses/<response_id>"] == "openai_responses.retrieve"
    assert rules["/v1/responses/<response_id>/cancel"] == "openai_responses.cancel"
    assert RESPONSES <= STREAM_ENDPOINTS
    assert set(rules.values()) >= RESPONSES
