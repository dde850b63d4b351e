"""Fast tier of streamer.service.echo_provider: the offline provider."""

from __future__ import annotations

from streamer.service.echo_provider import tokens


def test_tokens_join_back_to_the_text() -> None:
    text = "  a  b\tc\n d "
    assert "".join(tokens(text)) == text


def test_a_stop_sequence_ends_the_echo_before_it() -> None:
    from streamer.llm import ChatRequest
    from streamer.llm.events import Finish, TextDelta
    from streamer.service.echo_provider import EchoProvider

    request = ChatRequest(
        ({"role": "user", "content": "alpha beta gamma"},),
        "echo",
        sampling={"stop": ["gamma", "zzz"]},
    )
    events = list(EchoProvider(delay_s=0).stream(request))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "You said: alpha beta "
    assert events[-1] == Finish("stop")
