"""Fast tier of streamer.engine.inline: the handler greenlet resumes the producer itself (text),
coalescing what comes without blocking."""

from __future__ import annotations

from .test_server_response import make_view_app  # the views and fixtures of the response tests


def test_a_fast_producer_is_coalesced_into_few_writes() -> None:
    response = make_view_app(lambda: (f"{i}," for i in range(10_000))).get("/p")
    chunks = list(response.response)
    assert b"".join(chunks) == "".join(f"{i}," for i in range(10_000)).encode()
    assert len(chunks) < 100
