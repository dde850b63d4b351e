"""Fast tier of streamer.server.redirects: no redirect is built from the Host header (issue 18 row
8)."""

from __future__ import annotations

from streamer.server.redirects import relative_location


def test_relative_location_never_leaves_the_server() -> None:
    assert relative_location("http://evil.example/static/x") == "/static/x"
    assert relative_location("http://h//evil.example/x") == "/evil.example/x"
    assert relative_location("http://h/\\evil.example") == "/evil.example"
    assert relative_location("http://h") == "/"
