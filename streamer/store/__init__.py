"""The stream store: where resumable streams live, so any reader can replay and follow them.

One interface, two backends: :class:`~streamer.store.memory.MemoryStore` (the default; one
process, bounded) and :class:`~streamer.store.redis.RedisStore` (``REDIS_URL``; shared by every
worker and instance). :func:`open_store` picks one from the config.

A stream is a log of records with sequence numbers 1, 2, 3, ...: the :class:`Data` records
(whose ``id`` is their sequence number) and then at most one terminal record (:class:`End` or
:class:`Error`) at the next number. Once a terminal record is in, the stream is *finished*:
nothing more is appended. Three parties write:

- the producer (the *owner*): :meth:`StreamStore.create`, :meth:`~StreamStore.append`, and
  :meth:`~StreamStore.keep_alive`, which renews its lease and says when it must stop;
- whoever cancels (:meth:`~StreamStore.cancel`, ``DELETE /streams/<id>``): appends
  ``error: cancelled`` and wakes the owner wherever it runs;
- any reader that finds the lease expired (:meth:`~StreamStore.reap`): appends
  ``error: producer_lost``, so a stream whose producer died ends instead of hanging.

Every append is conditional on the stream not being finished, atomically, so exactly one
terminal record wins. Finished streams are kept ``stream_ttl_s`` and then expire (404).

A store that can lose its data (:attr:`StreamStore.can_lose_streams`: Redis restarted empty,
or flushed) never lets a running stream continue as a different, partial one: the owner's
next append or renewal finds its stream gone, leaves a *tombstone* (kept ``stream_ttl_s``:
every read of it returns ``[STORE_LOST]``, ``error: store_lost``, whatever the ``after_id``)
and is told to stop.

Owners and slots (both optional arguments):

- ``create(stream_id, owner, owner_limit)`` records the key id that started the stream
  (``key1``..., never the key itself) and refuses (429, ``too_many_streams_for_key``) an owner
  who already runs ``owner_limit`` streams: counted in the whole store, so across workers and
  instances on Redis. A running stream holds its owner's slot until it finishes or its lease
  lapses (a dead worker's slots free themselves within a lease).
- :meth:`StreamStore.owner` tells a view whose stream it is, so another key gets a 404.
- :meth:`StreamStore.abandon` (optional hook) lets a producer that gave up on an unreachable
  store release what its process holds for the stream.

A store failure while writing is never a stream's outcome: the backends retry a producer's
appends and renewals for up to a lease, and the producer stops without a terminal record if
the store stays away (readers then see ``producer_lost``).

>>> store = open_store(Config())
>>> sid = new_stream_id()
>>> store.create(sid)
>>> store.append(sid, Data(1, "hi")), store.append(sid, End(1))
(True, True)
>>> store.read(sid, 0, block_s=0)
[Data(id=1, data='hi'), End(count=1, extra={})]
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from ._base import (
    CANCELLED,
    MAX_BLOCK_S,
    PRODUCER_LOST,
    STORE_LOST,
    Entry,
    StreamStore,
    new_stream_id,
    owner_limit_reached,
    past_end,
    valid_stream_id,
)

__all__ = [
    "CANCELLED",
    "MAX_BLOCK_S",
    "PRODUCER_LOST",
    "STORE_LOST",
    "Entry",
    "StreamStore",
    "new_stream_id",
    "open_store",
    "owner_limit_reached",
    "past_end",
    "valid_stream_id",
]


def open_store(config: Config) -> StreamStore:
    """The store the config asks for: Redis when ``redis_url`` is set, else in memory.

    Nothing connects here; the first command does (so this is cheap at app creation)."""
    if config.redis_url:
        try:
            from .redis import RedisStore
        except ImportError as exc:
            raise ConfigError(
                'REDIS_URL is set but redis-py is not installed: pip install "streamer[redis]"'
            ) from exc
        return RedisStore(config)
    from .memory import MemoryStore

    return MemoryStore(config)
