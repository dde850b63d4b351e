"""Fast tier of streamer.service.openai_api.errors: OpenAI's error shape."""

from __future__ import annotations

import pytest

from streamer.service.openai_api.errors import category, error_object


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "too_many_streams_for_key", "rate_limit_error"),
        (None, "upstream_rate_limited", "rate_limit_error"),
        (400, "invalid_json", "invalid_request_error"),
        (404, "not_found", "invalid_request_error"),
        (503, "unavailable", "server_error"),
        (None, "upstream_timeout", "server_error"),  # in-band: after the first byte
    ],
)
def test_the_category_follows_the_status(status: int | None, code: str, expected: str) -> None:
    assert category(status, code) == expected


def test_the_error_object_carries_streamers_type_as_its_code() -> None:
    assert error_object("invalid_parameter", "bad n", 400, param="n") == {
        "message": "bad n",
        "type": "invalid_request_error",
        "param": "n",
        "code": "invalid_parameter",
    }
