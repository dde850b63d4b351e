"""streamer: HTTP streaming done right, for Flask on gunicorn's gevent workers.

The library half (framing, decoders, records, errors) imports neither Flask nor gevent, so a
client needs no server code. The server half lives in :mod:`streamer.response` and friends.
"""

from __future__ import annotations

from .decoders import DecodeError, LineTooLong, NDJSONDecoder, ProtocolError, SSEDecoder
from .errors import (
    BadRequest,
    ConfigError,
    NotFound,
    RecordsExpired,
    StoreUnavailable,
    StreamerError,
    StreamTimeout,
    Unavailable,
    UpstreamError,
)
from .framing import FORMATS, NDJSON, SSE, Text
from .records import Data, End, Error, Ping, Record

__all__ = [
    "FORMATS",
    "NDJSON",
    "SSE",
    "BadRequest",
    "ConfigError",
    "Data",
    "DecodeError",
    "End",
    "Error",
    "LineTooLong",
    "NDJSONDecoder",
    "NotFound",
    "Ping",
    "ProtocolError",
    "Record",
    "RecordsExpired",
    "SSEDecoder",
    "StoreUnavailable",
    "StreamTimeout",
    "StreamerError",
    "Text",
    "Unavailable",
    "UpstreamError",
]
