"""One error tree for server and client.

Every error has a machine-readable ``type`` (the ``type`` of the wire's ``error`` record) and
a ``status`` (the HTTP status used when it happens before the first byte). Subclasses also
inherit the builtin they resemble, so ``except TimeoutError`` catches :class:`StreamTimeout`.
Messages are written to be shown to clients: never put a secret or a stack trace in one.
"""

from __future__ import annotations


class StreamerError(Exception):
    """Root of every error streamer raises on purpose."""

    type: str = "internal_error"
    status: int = 500

    def __init__(self, message: str = "internal error", *, type: str | None = None,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if type is not None:
            self.type = type
        if status is not None:
            self.status = status
        self.retry_after = retry_after

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


def error_body(type: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response streamer sends (the OpenAI-compatible API
    excepted, which speaks OpenAI's shape): ``{"error": {"type", "message"}}``."""
    return {"error": {"type": type, "message": message}}


class BadRequest(StreamerError, ValueError):
    """The request itself is wrong (a parameter, a body): 400."""

    type = "bad_request"
    status = 400


class Unavailable(StreamerError):
    """The service cannot take this stream now (a limit, a dependency down): 503."""

    type = "unavailable"
    status = 503


class UpstreamError(StreamerError):
    """A producer's upstream (an LLM API, a store) failed: 502 by default."""

    type = "upstream_error"
    status = 502


class StreamTimeout(StreamerError, TimeoutError):
    """A stream or its upstream took longer than allowed: 504 before the first byte."""

    type = "timeout"
    status = 504


class ConfigError(StreamerError, ValueError):
    """A configuration value is invalid; the message names the variable."""

    type = "config_error"


class NotFound(StreamerError, LookupError):
    """What was asked for does not exist (an unknown or expired stream id): 404."""

    type = "not_found"
    status = 404


class RecordsExpired(StreamerError, LookupError):
    """A resume asked for records the store has already dropped (its per-stream bound): 410.

    The reader must start over; continuing would silently skip records."""

    type = "records_expired"
    status = 410


class StoreUnavailable(Unavailable, ConnectionError):
    """The stream store (Redis) cannot be reached or did not answer in time: 503."""

    type = "store_unavailable"
