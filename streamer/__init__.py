"""streamer: HTTP streaming done right, for Flask on gunicorn's gevent workers.

>>> from streamer import Streamer, stream
>>> Streamer(app)
>>> @app.get("/ticks")
... def ticks():
...     return stream(tick_generator())

The face holds what a user types; everything else is reachable by its module path, a folder
per audience: :mod:`streamer.wire` (records, encoders, decoders: stdlib only),
:mod:`streamer.client`, :mod:`streamer.adapter`, :mod:`streamer.store`, :mod:`streamer.engine`,
:mod:`streamer.server`, :mod:`streamer.llm`, the opt-in :mod:`streamer.security` and the
gunicorn worker :mod:`streamer.worker`. ``pip install streamer`` is enough for the wire layer
and the client (requests); the server half (``Streamer``, ``stream``; ``pip install
"streamer[flask]"``) and the client load on first use, so ``import streamer`` never imports
Flask, gevent or requests.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import Config
from .errors import (
    BadRequest,
    NotFound,
    StreamerError,
    StreamTimeout,
    Unavailable,
    UpstreamError,
)
from .wire.records import Data, End, Error, Event, Ping

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .client import Client, IncompleteStream, StreamErrorRecord
    from .server import Streamer, stream

# Loaded on first use, not with the package. The client (requests, hence urllib3 and ssl):
# gunicorn's master imports streamer through gunicorn.conf.py, and ssl imported there, before
# the gevent worker patches, left urllib3 unpatched in every worker (a MonkeyPatchWarning).
# The server: a client-only install has no Flask.
_LAZY = {
    "Client": ".client",
    "IncompleteStream": ".client",
    "StreamErrorRecord": ".client",
    "Streamer": ".server",
    "stream": ".server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BadRequest",
    "Client",
    "Config",
    "Data",
    "End",
    "Error",
    "Event",
    "IncompleteStream",
    "NotFound",
    "Ping",
    "StreamErrorRecord",
    "StreamTimeout",
    "Streamer",
    "StreamerError",
    "Unavailable",
    "UpstreamError",
    "stream",
]
