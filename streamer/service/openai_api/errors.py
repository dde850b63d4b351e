"""OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

The SDKs pick their exception class from the status (401 ``AuthenticationError``, 429
``RateLimitError``, 400 ``BadRequestError``...) and show ``message``; ``type`` is OpenAI's
broad category, ``code`` carries streamer's own error type (``too_many_streams_for_key``,
``upstream_timeout``...), and ``param`` names the request field at fault, if one is.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParameter as InvalidParameter  # re-exported: defined there


def category(status: int | None, code: str) -> str:
    """OpenAI's ``type`` for an error of HTTP ``status`` (None: in-band, after the first
    byte) and streamer type ``code``."""
    if status == 429 or code.endswith("rate_limited"):
        return "rate_limit_error"
    if status is not None and 400 <= status < 500:
        return "invalid_request_error"
    return "server_error"


def error_object(
    code: str, message: str, status: int | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"message": message, "type": category(status, code), "param": param, "code": code}
