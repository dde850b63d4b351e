"""The client's errors, one branch of streamer's error tree.

Everything the client raises on purpose is a :class:`~streamer.errors.StreamerError`:
the classes here (all under :class:`ClientError`) plus :class:`~streamer.decoders.ProtocolError`
and its subclasses (``DecodeError``, ``LineTooLong``) for bytes that break the wire contract.
Each also inherits the builtin it resembles, so ``except TimeoutError`` or
``except ConnectionError`` work as expected.
"""

from __future__ import annotations

from ..errors import StreamerError, StreamTimeout


class ClientError(StreamerError):
    """Root of the errors raised by :mod:`streamer.client`."""

    type = "client_error"


class HTTPStatusError(ClientError):
    """The server refused the stream before its first byte (a 4xx or 5xx status).

    ``status`` is the HTTP status, ``type`` and ``message`` come from the server's JSON body
    (``{"error": {"type": ..., "message": ...}}``) when it has one, and ``retry_after`` holds
    the ``Retry-After`` header in seconds (429, 503), or None.
    """

    type = "http_error"

    def __init__(self, status: int, type: str, message: str, *,
                 retry_after: float | None = None, url: str = "") -> None:
        super().__init__(message, type=type, status=status, retry_after=retry_after)
        self.url = url

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.type}: {self.message}"


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
        return (f"the stream failed after {self.received} record(s): "
                f"{self.type}: {self.message}")


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
        super().__init__(f"no data for {timeout:g} s (the read timeout); "
                         f"{received} record(s) had arrived")
        self.timeout = timeout
        self.received = received


class ConnectFailed(ClientError, ConnectionError):
    """The connection could not be made (refused, DNS, TLS, connect timeout)."""

    type = "connect_failed"
