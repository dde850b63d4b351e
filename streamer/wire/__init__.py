"""The wire layer: what a stream looks like on the wire, with no I/O and no dependency.

Stdlib only (``pip install streamer`` needs nothing else for it), shared by the server, the
client and the tests:

- :mod:`~streamer.wire.records`: the four records a stream is made of (and ``Event``, a
  named data record as a producer yields it);
- :mod:`~streamer.wire.framing`: their encoders for ``text``, ``ndjson`` and ``sse``;
- :mod:`~streamer.wire.decoders`: the matching incremental decoders;
- :mod:`~streamer.wire.negotiate`: which format a request asks for;
- :mod:`~streamer.wire.http1`: the HTTP/1.1 chunk framing streamer writes itself.
"""

from __future__ import annotations

from .decoders import DecodeError, LineTooLong, NDJSONDecoder, ProtocolError, SSEDecoder
from .framing import FORMATS, NDJSON, SSE, Encoder, Text
from .records import Data, End, Error, Event, Ping, Record

__all__ = [
    "FORMATS",
    "NDJSON",
    "SSE",
    "Data",
    "DecodeError",
    "Encoder",
    "End",
    "Error",
    "Event",
    "LineTooLong",
    "NDJSONDecoder",
    "Ping",
    "ProtocolError",
    "Record",
    "SSEDecoder",
    "Text",
]
