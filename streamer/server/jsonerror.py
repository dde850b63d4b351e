"""The JSON error response (Flask): every ``{"error": {"type", "message"}}`` the extension,
the auth hooks and the demo app send is built by :func:`json_error` from
:func:`streamer.errors.error_body` (the OpenAI-compatible API speaks OpenAI's shape instead)."""

from __future__ import annotations

from flask import Response, jsonify

from ..errors import error_body


def json_error(status: int, type: str, message: str, retry_after: float | None = None) -> Response:
    response = jsonify(error_body(type, message))
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response
