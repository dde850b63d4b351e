"""The stream store's interface and what both backends share (the contract: the package's
docstring, :mod:`streamer.store`)."""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any

from ..config import Config
from ..errors import BadRequest, NotFound, StreamerError
from ..wire.records import Data, End, Error

Entry = Data | End | Error
"""What a stream holds: data records, then one terminal record."""

#: The longest a reader blocks in one :meth:`StreamStore.read`: readers check the producer's
#: lease between waits, and the Redis store's blocking socket timeout is this plus
#: ``redis_timeout_s`` (how long a reader of a stalled Redis waits to say so).
MAX_BLOCK_S = 1.0

CANCELLED = Error("cancelled", "the stream was cancelled")
PRODUCER_LOST = Error("producer_lost", "the stream's producer stopped responding")
STORE_LOST = Error(
    "store_lost", "the stream store lost this stream (it restarted empty or was flushed)"
)

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_stream_id() -> str:
    """A fresh, unguessable stream id: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def owner_limit_reached(limit: int) -> StreamerError:
    """The error for an owner already running ``limit`` resumable streams: 429."""
    return StreamerError(
        f"this key already runs {limit} resumable streams; retry when one ends",
        type="too_many_streams_for_key",
        status=429,
        retry_after=1,
    )


def past_end(after_id: int) -> BadRequest:
    """The error for a resume from an id the stream never had."""
    return BadRequest(
        f"Last-Event-ID {after_id} is past the end of the stream", type="invalid_last_event_id"
    )


def name_ttl_s(config: Config) -> float:
    """How long a stream's name (:meth:`StreamStore.name_stream`) lives: as long as the
    longest stream and its records can."""
    return config.max_stream_s + config.stream_ttl_s + config.lease_s


def valid_stream_id(stream_id: str) -> str:
    """``stream_id`` if it has the shape of an id this service makes; else :class:`NotFound`.

    Checked before an id reaches the store, so a URL can never name an arbitrary key."""
    if not _ID.fullmatch(stream_id):
        raise NotFound("no such stream")
    return stream_id


class StreamStore(ABC):
    """Append-only logs of records, readable from any position, with a producer lease.

    Methods raise :class:`~streamer.errors.StoreUnavailable` when the backend cannot be
    reached within its timeouts, and :class:`~streamer.errors.NotFound` for an unknown or
    expired stream where they say so.
    """

    #: Whether the backend can lose a running stream's keys (Redis restarted without
    #: persistence, or flushed). Then a stream its owner finds gone is marked lost (reads
    #: return ``[STORE_LOST]``) and a reader that had seen a stream vanish ends it with
    #: ``STORE_LOST``; otherwise (memory) a vanished stream is plain ``NotFound``.
    can_lose_streams = False

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    @abstractmethod
    def name(self) -> str:
        """``memory`` or ``redis``, for ``/readyz``."""

    @abstractmethod
    def ping(self) -> None:
        """Check the backend answers (readiness); raise ``StoreUnavailable`` if not."""

    @abstractmethod
    def create(
        self, stream_id: str, owner: str | None = None, owner_limit: int | None = None
    ) -> None:
        """Create an empty, running stream and take its lease for the caller. ``owner`` (a key
        id) is kept with the stream; with ``owner_limit``, raise a 429 ``StreamerError`` if
        that owner already runs that many streams in this store."""

    @abstractmethod
    def owner(self, stream_id: str) -> str | None:
        """The key id that started the stream (None if started without a key);
        ``NotFound`` if unknown or expired."""

    @abstractmethod
    def append(self, stream_id: str, record: Entry) -> bool:
        """Append a record (the owner only). ``Data`` ids must follow on 1, 2, 3, ...; an
        ``End`` or ``Error`` finishes the stream. Idempotent: re-appending the last ``Data``
        is a no-op. False when the stream is finished (cancelled, reaped) or gone: stop."""

    @abstractmethod
    def keep_alive(self, stream_id: str, wait_s: float) -> bool:
        """Renew the owner's lease, then wait up to ``wait_s`` for a cancel. False when the
        owner must stop (cancelled, finished by someone else, or gone); True otherwise."""

    @abstractmethod
    def read(self, stream_id: str, after_id: int, block_s: float) -> list[Entry]:
        """The records after ``after_id`` (terminal included), waiting up to ``block_s`` for
        one if there are none yet; an empty list when the wait ran out.

        Raises ``NotFound`` (unknown or expired), ``RecordsExpired`` (records after
        ``after_id`` were dropped by the bound) or ``BadRequest`` (``after_id`` is past the
        stream's last data record)."""

    def reader(self, stream_id: str) -> Callable[[int, float], list[Entry]]:
        """One follower's :meth:`read` of ``stream_id`` (``reader(id)(after_id, block_s)``),
        called with the id of the last record it got each time. A store whose reads cost
        less from where the same follower left off keeps that in what it returns
        (:class:`streamer.server.durable.records.Cursor`)."""
        return partial(self.read, stream_id)

    @abstractmethod
    def cancel(self, stream_id: str) -> bool:
        """Finish a running stream with ``error: cancelled`` and wake its owner. True if it
        was running, False if it had already finished; ``NotFound`` if unknown."""

    @abstractmethod
    def reap(self, stream_id: str) -> bool:
        """If the stream is running but its lease has expired, finish it with
        ``error: producer_lost``. True if it did."""

    @abstractmethod
    def name_stream(self, name: str, stream_id: str) -> None:
        """Make ``name`` (an app's key for a stream, such as a chat id) point at ``stream_id``
        until the stream could have expired: ``max_stream_s + stream_ttl_s + lease_s``. A
        later call replaces it."""

    @abstractmethod
    def named(self, name: str) -> str | None:
        """The stream id ``name`` points at, or None (never named, or expired). The stream
        itself may be gone: reading it says so."""

    def abandon(self, stream_id: str) -> None:  # noqa: B027 (optional hook)
        """The caller's producer of ``stream_id`` stopped without a terminal record (the store
        was away): release what this process holds for it. Its lease then lapses, readers
        see ``producer_lost`` and its owner's slot frees itself."""

    def client_counters(self, namespace: str = "client") -> Any:
        """Counters of places shared by every process on this store, under the keys of
        ``namespace`` (:class:`streamer.store.redis_counters.RedisClientCounters`), or None:
        a store of one process has none, and a limit counts per worker instead."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook; the memory store has nothing)
        """Release connections."""
