"""One error tree for server and client.

Every error streamer raises on purpose is a :class:`StreamerError` with a machine-readable
``type`` (the ``type`` of the wire's ``error`` record and of the JSON error body). Each also
inherits the builtin it resembles, so ``except TimeoutError`` catches :class:`StreamTimeout`
and ``except ConnectionError`` catches :class:`IncompleteStream`. Messages are written to be
shown to clients: never put a secret or a stack trace in one.

``status`` has one meaning: **the HTTP status the server sends** for the error when it happens
before the first byte. A status the *client received* is ``status_code`` (as in requests and
httpx), on :class:`HTTPStatusError` only.

::

    StreamerError (Exception)                      internal_error          500
    ├── BadRequest (ValueError)                    bad_request             400
    │   ├── InvalidField                           invalid_field           422  (/chat body)
    │   └── InvalidParameter                       invalid_parameter       400  (OpenAI API)
    ├── BodyTimeout * (werkzeug RequestTimeout)    body_timeout            408
    ├── MalformedBody * (werkzeug BadRequest)      malformed_body          400  (its framing)
    ├── InvalidToken (PermissionError)             invalid_token           401
    ├── NotFound (LookupError)                     not_found               404
    ├── RecordsExpired (LookupError)               records_expired         410
    ├── Unavailable                                unavailable             503
    │   └── StoreUnavailable (ConnectionError)     store_unavailable       503
    ├── UpstreamError                              upstream_error          502
    │   └── UpstreamRefused                        (the upstream's code)   its 4xx  (+ param)
    ├── UnserializablePayload (TypeError)          unserializable_payload  500
    ├── StreamTimeout (TimeoutError)               timeout                 504
    ├── ConfigError (ValueError)                   config_error            (start-up)
    ├── DurableError                               (its own types)         400-410 (Durable Streams)
    ├── StreamAborted * (ConnectionAbortedError)   aborted                 (server, mid-stream)
    ├── ProtocolError (ValueError)                 protocol_error          (broken wire bytes)
    │   ├── DecodeError (UnicodeError)             decode_error
    │   └── LineTooLong                            line_too_long
    └── ClientError                                client_error            (streamer.client's)
        ├── HTTPStatusError                        refused before the first byte: .status_code
        ├── StreamErrorRecord                      an in-band error record
        ├── IncompleteStream (ConnectionError)     cut short
        ├── IdleTimeout (StreamTimeout)            silent longer than the read timeout
        └── ConnectFailed (ConnectionError)        no connection

The three classes marked * live beside what they need (Flask's werkzeug, the gevent engine) so
that this module imports neither Flask nor gevent; they are importable from here all the same
(``from streamer.errors import BodyTimeout``) when their dependency is installed. Everything
else is defined here; ``streamer.wire.decoders``, ``streamer.security.tokens``, ``streamer.client``,
``streamer.service.chat`` and ``streamer.service.openai_api.errors`` re-export their classes from
this module.
"""

from __future__ import annotations

import warnings
from importlib import import_module
from typing import Any

__all__ = [
    "BadRequest",
    "ClientError",
    "ConfigError",
    "ConnectFailed",
    "DecodeError",
    "DurableError",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "InvalidField",
    "InvalidParameter",
    "InvalidToken",
    "LineTooLong",
    "NotFound",
    "ProtocolError",
    "RecordsExpired",
    "StoreUnavailable",
    "StreamErrorRecord",
    "StreamTimeout",
    "StreamerError",
    "Unavailable",
    "UnserializablePayload",
    "UpstreamError",
    "UpstreamRefused",
    "error_body",
]  # and, imported on use: BodyTimeout, MalformedBody, StreamAborted (see _ELSEWHERE)


class StreamerError(Exception):
    """Root of every error streamer raises on purpose."""

    type: str = "internal_error"
    status: int = 500  # the HTTP status the server sends for it (before the first byte)

    def __init__(
        self,
        message: str = "internal error",
        *,
        type: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
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


# --- the server's -------------------------------------------------------------------------


class BadRequest(StreamerError, ValueError):
    """The request itself is wrong (a parameter, a body): 400."""

    type = "bad_request"
    status = 400


class InvalidField(BadRequest):
    """A field of the /chat JSON body is missing or wrong: 422."""

    type = "invalid_field"
    status = 422


class InvalidParameter(BadRequest):
    """A field of an OpenAI-compatible request body is missing or wrong: 400 naming it in
    ``param`` (OpenAI answers 400, not 422, so the SDKs raise ``BadRequestError``)."""

    type = "invalid_parameter"

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class UnserializablePayload(StreamerError, TypeError):
    """A producer yielded a payload the wire format cannot encode as JSON (its message names
    the type): a 500 before the first byte, an ``error`` record after it."""

    type = "unserializable_payload"


class Unavailable(StreamerError):
    """The service cannot take this stream now (a limit, a dependency down): 503."""

    type = "unavailable"
    status = 503


class UpstreamError(StreamerError):
    """A producer's upstream (an LLM API, a store) failed: 502 by default."""

    type = "upstream_error"
    status = 502


class UpstreamRefused(UpstreamError):
    """An OpenAI-compatible upstream refused the request (a 4xx other than for the service's
    own key or its rate): its status, its message (secrets taken out), its ``code`` as the
    type and the ``param`` it named, passed on by the pass-through gateway."""

    def __init__(self, message: str, *, type: str, status: int, param: str | None) -> None:
        super().__init__(message, type=type, status=status)
        self.param = param


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


class DurableError(StreamerError):
    """A refused Durable Streams request (:mod:`streamer.server.durable`): its status, its own
    ``type``, and the protocol's response headers (``Stream-Closed``, ``Producer-Epoch``...)."""

    def __init__(
        self, status: int, type: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, type=type, status=status)
        self.headers = headers or {}


class StoreUnavailable(Unavailable, ConnectionError):
    """The stream store (Redis) cannot be reached or did not answer in time: 503."""

    type = "store_unavailable"


class InvalidToken(StreamerError, PermissionError):
    """A read token that is malformed, forged, expired or for another stream: 401."""

    type = "invalid_token"
    status = 401


# --- the wire's (server and client) ------------------------------------------------------


class ProtocolError(StreamerError, ValueError):
    """The bytes do not follow the wire contract."""

    type = "protocol_error"
    status = 502


class DecodeError(ProtocolError, UnicodeError):
    """The body is not valid UTF-8."""

    type = "decode_error"


class LineTooLong(ProtocolError):
    """A line exceeded the decoder's ``max_line`` limit."""

    type = "line_too_long"


# --- the client's (streamer.client) ------------------------------------------------------


class ClientError(StreamerError):
    """Root of the errors raised by :mod:`streamer.client`."""

    type = "client_error"


class HTTPStatusError(ClientError):
    """The server refused the stream before its first byte (a 4xx or 5xx status).

    ``status_code`` is the HTTP status received, ``type`` and ``message`` come from the
    server's JSON body (``{"error": {"type": ..., "message": ...}}``) when it has one, and
    ``retry_after`` holds the ``Retry-After`` header in seconds (429, 503), or None.
    ``status`` is a deprecated alias of ``status_code``.
    """

    type = "http_error"

    def __init__(
        self,
        status_code: int,
        type: str,
        message: str,
        *,
        retry_after: float | None = None,
        url: str = "",
    ) -> None:
        super().__init__(message, type=type, retry_after=retry_after)
        self.status_code = status_code
        self.url = url

    @property
    def status(self) -> int:
        """Deprecated: the status received is ``status_code`` (``status`` is the status a
        server sends, everywhere else in the tree)."""
        warnings.warn(
            "HTTPStatusError.status is deprecated: use .status_code",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.status_code

    @status.setter
    def status(self, value: int) -> None:
        warnings.warn(
            "HTTPStatusError.status is deprecated: use .status_code",
            DeprecationWarning,
            stacklevel=2,
        )
        self.status_code = value

    def __str__(self) -> str:
        return f"HTTP {self.status_code} {self.type}: {self.message}"


class StreamErrorRecord(ClientError):
    """The server ended the stream with an in-band ``error`` record (after the first byte).

    ``type`` and ``message`` are the record's; ``received`` counts the data records that
    arrived before it and ``last_id`` is the id of the last one (0 if none).
    """

    type = "stream_error"

    def __init__(self, type: str, message: str, *, received: int, last_id: int) -> None:
        super().__init__(message, type=type)
        self.received = received
        self.last_id = last_id

    def __str__(self) -> str:
        return f"the stream failed after {self.received} record(s): {self.type}: {self.message}"


class IncompleteStream(ClientError, ConnectionError):
    """The stream stopped before it was complete: the chunked body was cut, the terminator
    never came, or (ndjson, sse) the body ended without an ``end`` record.

    ``received`` counts the data records (text: the characters) that did arrive;
    ``last_id`` is the id of the last data record (0 if none, or for text).
    """

    type = "incomplete_stream"

    def __init__(self, message: str, *, received: int, last_id: int = 0) -> None:
        super().__init__(message)
        self.received = received
        self.last_id = last_id


class IdleTimeout(ClientError, StreamTimeout):
    """No byte arrived for longer than the client's read ``timeout``.

    Heartbeats are bytes, so a live server's pings keep resetting this clock; it fires only
    when the server (or the path to it) has gone silent.
    """

    type = "idle_timeout"

    def __init__(self, timeout: float, *, received: int = 0) -> None:
        super().__init__(
            f"no data for {timeout:g} s (the read timeout); {received} record(s) had arrived"
        )
        self.timeout = timeout
        self.received = received


class ConnectFailed(ClientError, ConnectionError):
    """The connection could not be made (refused, DNS, TLS, connect timeout)."""

    type = "connect_failed"


# The branches that live beside their dependency (marked * in the tree above).
_ELSEWHERE = {
    "BodyTimeout": ".server.bodydeadline",  # a werkzeug RequestTimeout (Flask installed)
    "MalformedBody": ".server.bodydeadline",  # a werkzeug BadRequest
    "StreamAborted": ".engine.ending",  # the gevent engine's
}


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:
        return getattr(import_module(_ELSEWHERE[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
