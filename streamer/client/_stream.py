"""Open streams: :class:`TextStream` (raw text) and :class:`RecordStream` (records, with resume).

A stream owns one response at a time and always closes it: when iteration ends, fails or is
abandoned (a generator's ``finally``), and on ``close()`` / leaving the ``with`` block.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import sleep
from types import TracebackType

import requests

from ..wire.decoders import ProtocolError
from ..wire.framing import MEDIA_TYPES
from ..wire.records import Data, End
from ._errors import ConnectFailed, HTTPStatusError, IdleTimeout, IncompleteStream
from ._http import Body, Dropped, Opener
from ._parse import RecordParser, parse_text, text_encoding

# Statuses worth another try when reconnecting; anything else (404: the stream expired,
# 401: the token was revoked) will not get better by waiting.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Stream:
    def __init__(self, response: requests.Response, read_timeout: float | None) -> None:
        self.response = response
        self._read_timeout = read_timeout
        self._started = False
        self._body = Body(response)
        self.bytes = 0  # bytes of body received, over all connections

    def close(self) -> None:
        """Close the connection (idempotent). An unfinished body is not drained: the socket
        is closed rather than returned to the pool."""
        self.response.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a stream can be iterated only once")
        self._started = True

    def _count_bytes(self) -> None:
        self.bytes += self._body.bytes
        self._body.bytes = 0


class TextStream(_Stream):
    """The body as text, decoded incrementally in the response's charset (UTF-8 when the
    ``Content-Type`` names none). Iterate once; each item is the text that arrived.

    Raises :class:`IncompleteStream` when the body is cut (a text stream has no ``end``
    record: a missing chunked terminator is how the server says it failed),
    :class:`IdleTimeout` after ``timeout`` seconds of silence and
    :class:`~streamer.wire.decoders.DecodeError` for bytes that are not valid in the charset.
    """

    def __init__(self, response: requests.Response, read_timeout: float | None) -> None:
        super().__init__(response, read_timeout)
        self.encoding = text_encoding(response.headers.get("Content-Type"))
        self.received = 0  # characters
        self.complete = False

    def __enter__(self) -> TextStream:
        return self

    def __iter__(self) -> Iterator[str]:
        self._start()
        return self._texts()

    def _texts(self) -> Iterator[str]:
        try:
            try:
                for text in parse_text(self._body, self.encoding):
                    self.received += len(text)
                    yield text
            except Dropped as exc:
                self._count_bytes()
                if exc.timeout:
                    raise IdleTimeout(
                        self._read_timeout or 0.0, received=self.received
                    ) from exc.__cause__
                raise IncompleteStream(
                    f"the connection was cut after {self.bytes} byte(s) of text "
                    f"({self.received} character(s))",
                    received=self.received,
                ) from exc.__cause__
            self._count_bytes()
            self.complete = True
        finally:
            self.close()


class RecordStream(_Stream):
    """Records as they arrive: :class:`~streamer.wire.records.Data` with its id, then one
    :class:`~streamer.wire.records.End` (also kept in ``end``). ``ping`` records and SSE comments
    are absorbed. Iterate once.

    Raises :class:`StreamErrorRecord` for an in-band ``error`` record,
    :class:`IncompleteStream` when the body ends or is cut before ``end``,
    :class:`IdleTimeout` after ``timeout`` seconds of silence,
    :class:`~streamer.wire.decoders.ProtocolError` for bytes that break the contract.

    With ``resume``, a dropped connection (cut, silent, or ended without ``end``) is
    reopened with ``Last-Event-ID``. At most ``max_retries`` attempts in a row may fail (an
    attempt that delivers a new record resets the count); before each, the client waits the
    server's SSE ``retry`` hint (else ``backoff``) seconds, doubled after each failure, at most
    ``max_backoff``, and at least a 429/503's ``Retry-After``. Records whose ids were already
    delivered are dropped, so none arrives twice. A 204 on a resume (SSE only: the stream has
    finished and nothing follows the last id) ends iteration without an error; ``end``
    stays None.
    """

    def __init__(
        self,
        response: requests.Response,
        read_timeout: float | None,
        *,
        format: str,
        max_line: int,
        reopen: Opener | None,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        super().__init__(response, read_timeout)
        self.format = _body_format(response, format)
        self._parser = RecordParser(self.format, max_line)
        self._reopen = reopen
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.reconnects = 0  # successful reconnections

    def __enter__(self) -> RecordStream:
        return self

    @property
    def received(self) -> int:
        """Data records delivered so far."""
        return self._parser.received

    @property
    def last_id(self) -> int:
        """Id of the last data record delivered (0 before the first)."""
        return self._parser.last_id

    @property
    def end(self) -> End | None:
        """The ``end`` record, once it has arrived."""
        return self._parser.end

    def __iter__(self) -> Iterator[Data | End]:
        self._start()
        return self._records()

    def _records(self) -> Iterator[Data | End]:
        try:
            yield from self._parser.parse(self._bodies())
        finally:
            self.close()

    def _bodies(self) -> Iterator[bytes | bool]:
        """The chunks of every body this stream reads, each body followed by a marker for
        the parser (True: it ended properly, False: it was cut); reconnects in between.
        Only chunks pass through here, never records: the per-record path stays short."""
        parser = self._parser
        failures = 0
        while True:
            before = parser.received
            try:
                yield from self._body
            except Dropped as exc:
                self._count_bytes()
                yield False
                if parser.end is not None:
                    return  # the end arrived; a cut after it loses nothing
                cause: BaseException | None = exc.__cause__
                failure: Exception = (
                    IdleTimeout(self._read_timeout or 0.0, received=parser.received)
                    if exc.timeout
                    else parser.incomplete("the connection was cut")
                )
            else:
                self._count_bytes()
                yield True
                if parser.end is not None:
                    return
                cause = None
                failure = parser.incomplete("the body ended without an end record")
            if parser.received > before:
                failures = 0
            elif self.reconnects:
                failures += 1  # a reconnection that brought nothing new
            if not self._reconnect(failure, cause, failures):
                return

    def _reconnect(self, failure: Exception, cause: BaseException | None, failures: int) -> bool:
        """Reopen the stream after ``last_id``; False if the server answers 204 (the stream
        has finished and nothing follows ``last_id``: what streamer answers an SSE resume
        at the end, to stop ``EventSource``). Raise ``failure`` when reopening is not
        possible or ``max_retries`` attempts in a row have failed."""
        if self._reopen is None:
            raise failure from cause
        retry_after: float | None = None
        while True:
            if failures >= self.max_retries:
                raise failure from cause
            delay = self._delay(failures, retry_after)
            if delay is None:
                raise failure from cause
            self.close()
            sleep(delay)  # a module global: the fast tests record the delays instead
            headers = {"Last-Event-ID": str(self.last_id)} if self.last_id else {}
            try:
                response = self._reopen(headers)
            except HTTPStatusError as exc:
                if exc.status_code not in RETRY_STATUSES:
                    raise
                failure, cause, retry_after = exc, None, exc.retry_after
            except (ConnectFailed, IdleTimeout) as exc:
                if isinstance(exc, IdleTimeout):
                    exc.received = self.received
                failure, cause, retry_after = exc, None, None
            else:
                self.reconnects += 1
                if response.status_code == 204:
                    response.close()
                    return False
                self.response, self._body = response, Body(response)
                self._parser.resuming()
                return True
            failures += 1

    def _delay(self, failures: int, retry_after: float | None) -> float | None:
        """Seconds before the next attempt; None when the server asks for longer than
        ``max_backoff`` (waiting that long is not this client's call)."""
        hint = self._parser.retry_ms
        base = hint / 1000 if hint is not None else self.backoff
        delay = min(base * (1 << min(failures, 30)), self.max_backoff)
        if retry_after is not None:
            if retry_after > self.max_backoff:
                return None
            delay = max(delay, retry_after)
        return delay


def _body_format(response: requests.Response, requested: str) -> str:
    """The format of the body: what its ``Content-Type`` says, else what was asked for."""
    media = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    fmt = MEDIA_TYPES.get(media)
    if fmt == "text":
        response.close()
        raise ProtocolError(
            f"the server sent {media}, which has no records: "
            "read it as text, or ask for ndjson or sse"
        )
    return fmt or requested
