"""streamer: HTTP streaming done right, for Flask on gunicorn's gevent workers.

The library half (framing, decoders, records, errors) imports neither Flask nor gevent, so a
client needs no server code. The server half lives in :mod:`streamer.response` and friends.
"""

from __future__ import annotations

from .client import (
    Client,
    ClientError,
    ConnectFailed,
    HTTPStatusError,
    IdleTimeout,
    IncompleteStream,
    RecordStream,
    StreamErrorRecord,
    TextStream,
)
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
    "Client",
    "ClientError",
    "ConfigError",
    "ConnectFailed",
    "Data",
    "DecodeError",
    "End",
    "Error",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "LineTooLong",
    "NDJSONDecoder",
    "NotFound",
    "Ping",
    "ProtocolError",
    "Record",
    "RecordStream",
    "RecordsExpired",
    "SSEDecoder",
    "StoreUnavailable",
    "StreamErrorRecord",
    "StreamTimeout",
    "StreamerError",
    "Text",
    "TextStream",
    "Unavailable",
    "UpstreamError",
]
