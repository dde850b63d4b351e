"""Fast tier of streamer.service.echo_provider: the offline provider."""

from __future__ import annotations

from streamer.service.echo_provider import tokens


def test_tokens_join_back_to_the_text() -> None:
    text = "  a  b\tc\n d "
    assert "".join(tokens(text)) == text
