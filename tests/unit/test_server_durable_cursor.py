"""Fast tier of streamer.server.durable.cursor: the interval now, and never back."""

from __future__ import annotations

from streamer.server.durable.cursor import EPOCH, INTERVAL_S, response_cursor


def test_the_interval_since_the_epoch() -> None:
    assert response_cursor(None, now=EPOCH + 10 * INTERVAL_S + 1) == "10"
    assert response_cursor("3", now=EPOCH + 10 * INTERVAL_S) == "10"
    assert response_cursor("junk", now=EPOCH + 10 * INTERVAL_S) == "10"


def test_a_client_at_or_past_now_gets_a_later_cursor() -> None:
    now = EPOCH + 10 * INTERVAL_S
    for client in ("10", "500"):
        later = int(response_cursor(client, now=now))
        assert int(client) < later <= int(client) + 3600 // INTERVAL_S + 1
