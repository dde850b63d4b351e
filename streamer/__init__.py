"""streamer: HTTP streaming done right, for Flask on gunicorn's gevent workers.

The library half (framing, decoders, records, errors) imports neither Flask nor gevent, so a
client needs no server code. The server half lives in :mod:`streamer.response` and friends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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

# The client (requests, hence urllib3 and ssl) loads on first use, not with the package:
# gunicorn's master imports streamer through gunicorn.conf.py, and ssl imported there, before
# the gevent worker patches, left urllib3 unpatched in every worker (a MonkeyPatchWarning).
_CLIENT_NAMES = frozenset({
    "Client", "ClientError", "ConnectFailed", "HTTPStatusError", "IdleTimeout",
    "IncompleteStream", "RecordStream", "StreamErrorRecord", "TextStream",
})


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
