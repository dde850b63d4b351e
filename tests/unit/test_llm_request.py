"""Fast tier of streamer.llm.request: what a chat provider is asked."""

from __future__ import annotations

import dataclasses

import pytest

from streamer.llm.request import ChatRequest


def test_the_last_user_message_is_what_the_provider_answers() -> None:
    request = ChatRequest(
        messages=(
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
            {"role": "assistant", "content": "four"},
        ),
        model="m",
    )
    assert request.last_user_message == "three"
    assert (
        ChatRequest(messages=({"role": "system", "content": "s"},), model="m").last_user_message
        == ""
    )


def test_a_request_is_frozen_with_optional_sampling_settings() -> None:
    request = ChatRequest(messages=(), model="m")
    assert (request.temperature, request.max_tokens, request.resumable) == (None, None, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.model = "other"  # type: ignore[misc]
