"""Fast tier of streamer.server.jsonerror: the one JSON error response."""

from __future__ import annotations

from flask import Flask

from streamer.server.jsonerror import json_error


def test_status_body_and_a_whole_second_retry_after() -> None:
    with Flask(__name__).app_context():
        response = json_error(429, "too_many_streams", "slow down", retry_after=0.2)
        plain = json_error(404, "not_found", "no such stream")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert response.get_json() == {"error": {"type": "too_many_streams", "message": "slow down"}}
    assert plain.status_code == 404 and "Retry-After" not in plain.headers
