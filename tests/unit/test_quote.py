"""Fast tier of streamer.quote: a client's value quoted back in an error, bounded (issue 18
row 10)."""

from __future__ import annotations

from streamer.quote import clip, echo


def test_echo_and_clip() -> None:
    assert echo("abc") == "'abc'"
    assert echo("9" * 3000) == "'" + "9" * 40 + "…'"
    assert echo("a\r\nb") == "'a\\r\\nb'"
    assert clip(-5) == "-5"
    assert clip(int("9" * 3000)) == "9" * 40 + "…"
