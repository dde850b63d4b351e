"""The client's errors, one branch of streamer's error tree (defined in :mod:`streamer.errors`).

Everything the client raises on purpose is a :class:`~streamer.errors.StreamerError`:
the classes here (all under :class:`ClientError`) plus
:class:`~streamer.wire.decoders.ProtocolError` and its subclasses (``DecodeError``,
``LineTooLong``) for bytes that break the wire contract. Each also inherits the builtin it
resembles, so ``except TimeoutError`` or ``except ConnectionError`` work as expected.
"""

from __future__ import annotations

from ..errors import (
    ClientError,
    ConnectFailed,
    HTTPStatusError,
    IdleTimeout,
    IncompleteStream,
    StreamErrorRecord,
)

__all__ = [
    "ClientError",
    "ConnectFailed",
    "HTTPStatusError",
    "IdleTimeout",
    "IncompleteStream",
    "StreamErrorRecord",
]
