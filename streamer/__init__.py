"""streamer: HTTP streaming done right, for Flask on gunicorn's gevent workers.

>>> from streamer import Streamer, stream
>>> Streamer(app)
>>> @app.get("/ticks")
... def ticks():
...     return stream(tick_generator())

The wire half (framing, decoders, records, errors, config) imports neither Flask nor gevent,
and the client (requests) loads on first use: ``pip install streamer`` is enough for it. The
server half (``Streamer``, ``stream``; ``pip install "streamer[flask]"``) loads on first use
too, so ``import streamer`` never imports Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config
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
    from .extension import Streamer
    from .streaming import stream

# The client (requests, hence urllib3 and ssl) loads on first use, not with the package:
# gunicorn's master imports streamer through gunicorn.conf.py, and ssl imported there, before
# the gevent worker patches, left urllib3 unpatched in every worker (a MonkeyPatchWarning).
_CLIENT_NAMES = frozenset({
    "Client", "ClientError", "ConnectFailed", "HTTPStatusError", "IdleTimeout",
    "IncompleteStream", "RecordStream", "StreamErrorRecord", "TextStream",
})


# The server half, also on first use: a client-only install has no Flask.
_SERVER_NAMES = {"Streamer": "extension", "stream": "streaming"}


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        return getattr(client, name)
    if name in _SERVER_NAMES:
        from importlib import import_module

        return getattr(import_module(f".{_SERVER_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "NDJSON",
    "SSE",
    "BadRequest",
    "Client",
    "ClientError",
    "Config",
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
    "Streamer",
    "StreamerError",
    "Text",
    "TextStream",
    "Unavailable",
    "UpstreamError",
    "stream",
]
