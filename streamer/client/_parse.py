"""The client's parsing layer: byte chunks in, text or records out. No I/O.

Everything here works on any iterable of ``bytes`` (a response body, a list in a test), and the
result never depends on how the bytes were split into chunks: the shared decoders of
:mod:`streamer.wire.decoders` do the framing.

Charset, a deliberate divergence from ``requests``: ``Response.text`` reads ``text/*`` without a
charset as ISO-8859-1 (the RFC 2616 default, dropped by RFC 7231). Here a missing charset means
UTF-8, which is what every streaming server in practice sends. NDJSON and SSE are UTF-8 by their
specs (RFC 8259, WHATWG), whatever the header says.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from itertools import chain

from ..quote import echo
from ..wire.decoders import DECODERS, DEFAULT_MAX_LINE, ProtocolError, SSEDecoder, TextDecoder
from ..wire.records import Data, End, Error
from ._errors import IncompleteStream, StreamErrorRecord


def text_encoding(content_type: str | None) -> str:
    """The charset of a ``Content-Type`` header, UTF-8 when there is none.

    >>> text_encoding("text/plain; charset=ISO-8859-1"), text_encoding("text/plain")
    ('iso8859-1', 'utf-8')
    """
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').strip()
            try:
                return codecs.lookup(charset).name
            except LookupError:
                raise ProtocolError(f"the server sent an unknown charset {echo(charset)}") from None
    return "utf-8"


def parse_text(chunks: Iterable[bytes], encoding: str = "utf-8") -> Iterator[str]:
    """Decode byte chunks incrementally: a character split across chunks comes out whole;
    invalid bytes raise :class:`~streamer.wire.decoders.DecodeError`."""
    decoder = TextDecoder(encoding)
    feed = decoder.feed
    for chunk in chunks:
        text = feed(chunk)
        if text:
            yield text
    text = decoder.close()
    if text:
        yield text


class RecordParser:
    """Records of one logical stream, possibly read over several connections (resume).

    ``parse(chunks)`` yields :class:`Data` records then the :class:`End` record; ``ping``
    records and SSE comments are absorbed; an ``error`` record raises
    :class:`StreamErrorRecord`. Besides bytes, ``chunks`` may hold markers between bodies:
    ``True`` (the body ended properly: flush what the decoder holds) or ``False`` (it was cut:
    drop the partial line). Across bodies the parser keeps ``last_id`` and drops data records
    whose id is not above it, so a resumed stream never delivers a record twice, even from a
    server that replays from the start; a resumed body that skips ids raises
    :class:`IncompleteStream`.
    """

    def __init__(self, format: str = "ndjson", max_line: int = DEFAULT_MAX_LINE) -> None:
        if format not in DECODERS:
            raise ValueError(f"format must be one of {', '.join(DECODERS)}, got {echo(format)}")
        self.format = format
        self.max_line = max_line
        self.received = 0  # data records delivered
        self.last_id = 0
        self.end: End | None = None
        self.retry_ms: int | None = None  # the latest SSE ``retry:`` hint
        self._resume_point = -1  # last_id when the current body was resumed

    def resuming(self) -> None:
        """The next body continues this stream after ``last_id``."""
        self._resume_point = self.last_id

    def incomplete(self, why: str) -> IncompleteStream:
        return IncompleteStream(
            f"{why}: the stream is incomplete after {self.received} record(s)"
            + (f" (last id {self.last_id})" if self.last_id else ""),
            received=self.received,
            last_id=self.last_id,
        )

    def parse(self, chunks: Iterable[bytes | bool]) -> Iterator[Data | End]:
        # The hot loop. Everything per record is inline (no nested generators): one class
        # check and one comparison per data record in the common case.
        decoder_type, max_line = DECODERS[self.format], self.max_line
        decoder = decoder_type(max_line)
        try:
            for chunk in chain(chunks, _FLUSH):
                if chunk.__class__ is bool:
                    records = decoder.close() if chunk else []
                    self._keep_retry_hint(decoder)
                    decoder = decoder_type(max_line)
                else:
                    records = decoder.feed(chunk)  # type: ignore[arg-type]
                if self.end is not None:
                    continue  # complete: what follows the end record does not count
                for record in records:
                    if record.__class__ is Data:
                        id = record.id
                        last = self.last_id
                        if id != last + 1:
                            if id <= last:
                                continue  # delivered before a reconnection
                            if last == self._resume_point and last:
                                raise self.incomplete(
                                    f"the resumed stream went on at id {id} after id {last}, "
                                    f"so records {last + 1}..{id - 1} were lost"
                                )
                        self.last_id = id
                        self.received += 1
                        yield record
                    elif record.__class__ is End:
                        self.end = record
                        yield record
                        break
                    elif record.__class__ is Error:
                        raise StreamErrorRecord(
                            record.type,
                            record.message,
                            received=self.received,
                            last_id=self.last_id,
                        )
                    # Ping: a heartbeat has done its job by arriving.
        finally:
            self._keep_retry_hint(decoder)

    def _keep_retry_hint(self, decoder: object) -> None:
        if isinstance(decoder, SSEDecoder) and decoder.retry_ms is not None:
            self.retry_ms = decoder.retry_ms


_FLUSH = (True,)


def parse_records(
    chunks: Iterable[bytes], format: str = "ndjson", max_line: int = DEFAULT_MAX_LINE
) -> Iterator[Data | End]:
    """Records of one complete body: data records, then the ``end`` record.

    Raises :class:`StreamErrorRecord` for an in-band error, :class:`IncompleteStream` if the
    body ends without ``end``, :class:`~streamer.wire.decoders.ProtocolError` for bytes that break
    the contract (invalid UTF-8, a line over ``max_line`` characters, a bad record).

    >>> list(parse_records([b'{"event":"data","id":1,"data":"hi"}\\n{"event":"end",',
    ...                     b'"count":1}\\n']))
    [Data(id=1, data='hi'), End(count=1, extra={})]
    """
    parser = RecordParser(format, max_line)
    yield from parser.parse(chunks)
    if parser.end is None:
        raise parser.incomplete("the body ended without an end record")
