"""A requests-based client for streamer's streams, and its command line
(``python -m streamer.client URL``).

>>> from streamer.client import Client
>>> with Client("http://127.0.0.1:8000", timeout=30) as client:          # doctest: +SKIP
...     with client.records("/stream/data", params={"count": 3}, resume=True) as stream:
...         for record in stream:
...             ...                       # Data(id, data) as it arrives, then End(count)
...     with client.text("/stream/data?count=3") as text:
...         for piece in text:
...             print(piece, end="", flush=True)

Errors all derive from :class:`~streamer.errors.StreamerError`: :class:`HTTPStatusError`
(refused before the first byte), :class:`StreamErrorRecord` (failed in-band),
:class:`IncompleteStream` (cut short), :class:`IdleTimeout` (silent too long),
:class:`ConnectFailed`, and :class:`~streamer.wire.decoders.ProtocolError` (bytes that break the
contract: ``DecodeError``, ``LineTooLong``).

The parsing layer (:func:`parse_records`, :func:`parse_text`) is I/O-free and works on any
iterable of byte chunks.
"""

from __future__ import annotations

from ._client import Client
from ._errors import (
    ClientError,
    ConnectFailed,
    HTTPStatusError,
    IdleTimeout,
    IncompleteStream,
    StreamErrorRecord,
)
from ._parse import RecordParser, parse_records, parse_text, text_encoding
from ._stream import RecordStream, TextStream

__all__ = [
    "Client",
    "ClientError",
    "ConnectFailed",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "RecordParser",
    "RecordStream",
    "StreamErrorRecord",
    "TextStream",
    "parse_records",
    "parse_text",
    "text_encoding",
]
