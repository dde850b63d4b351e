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
    """Redis when the config names a Redis URL, else memory (bounded by
    ``resumable_max_bytes``, as the stream store is)."""
    if config.redis_url:
        from .redis import RedisDurableStore

        return RedisDurableStore(config)
    from .memory import MemoryDurableStore

    return MemoryDurableStore(max_bytes=config.resumable_max_bytes)
