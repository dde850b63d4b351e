"""Fast tier of streamer.llm.openai_provider: what it takes from the SDK's stream and how it
names an upstream's refusal. The provider against a protocol-accurate upstream is
tests/real/test_chat_openai.py; its transport, tests/unit/test_llm_transport.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from streamer.errors import StreamerError, UpstreamError
from streamer.llm.openai_provider import _items, _status_error


def test_items_are_the_delta_texts_then_the_usage() -> None:
    chunk = {"choices": [{"delta": {"content": "Hel"}}]}
    assert list(_items(chunk)) == ["Hel"]
    assert list(_items({"choices": [{"delta": {}}]})) == []
    assert list(_items({"choices": [], "usage": {"total_tokens": 3}})) == [{"total_tokens": 3}]
    assert list(_items("not a chunk")) == []
    with pytest.raises(UpstreamError, match="mid-answer"):
        list(_items({"error": {"message": "overloaded"}}))


def status_error(status: int, headers: dict[str, str] | None = None) -> Any:
    # Only what _status_error reads of an openai.APIStatusError.
    return SimpleNamespace(status_code=status, response=SimpleNamespace(headers=headers or {}))


@pytest.mark.parametrize(
    ("status", "type"),
    [
        (401, "upstream_auth"),
        (403, "upstream_auth"),
        (404, "upstream_rejected"),
        (422, "upstream_rejected"),
        (500, "upstream_error"),
        (503, "upstream_error"),
    ],
)
def test_upstream_statuses_become_streamer_errors(status: int, type: str) -> None:
    error = _status_error(status_error(status))
    assert isinstance(error, UpstreamError) and error.type == type


def test_a_rate_limit_passes_on_its_retry_after() -> None:
    error = _status_error(status_error(429, {"retry-after": "7"}))
    assert isinstance(error, StreamerError) and not isinstance(error, UpstreamError)
    assert (error.status, error.type, error.retry_after) == (429, "upstream_rate_limited", 7.0)
    assert _status_error(status_error(429, {"retry-after": "soon"})).retry_after is None
