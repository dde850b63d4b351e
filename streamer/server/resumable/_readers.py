"""Readers of a resumable stream: the records after an id, live ones as they come, then its
``End`` or ``Error``, from any worker; and who may read one.

A reader that finds the producer's lease expired finishes the stream with
``error: producer_lost`` (the producer's worker died), so no reader ever waits forever; a
reader that meets a store failure gets ``store_unavailable`` in-band, not stored, and can
resume with ``Last-Event-ID`` later. A reader that had seen the stream and then finds it gone
from a store that can lose streams (Redis restarted empty) ends with ``error: store_lost``,
in-band, as the owner's tombstone would have told it a moment later. A reader whose right to
read ends (a read token's expiry, :meth:`~streamer.server.state.OwnerPolicy.read_until`)
ends then with ``error: token_expired``, in-band: a token that leaked reads no longer than
it lives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Response

from ...config import Config
from ...errors import NotFound
from ...store import CANCELLED, MAX_BLOCK_S, STORE_LOST, Entry, StreamStore
from ...wire.framing import Encoder
from ...wire.records import Data, End, Error
from ..response import stream_for_request
from ..state import current_config, current_state, current_store
from .origin import OriginReader

TOKEN_EXPIRED = Error(
    "token_expired", "the stream token has expired; resume with Last-Event-ID and a new one"
)


def check_owner(stream_id: str, store: StreamStore | None = None) -> str:
    """In a view: ``stream_id`` if the owner policy lets the caller read or cancel it (with
    client keys: the key that started it); anybody else gets a 404 with the same body as an
    unknown stream. ``store``: where the stream is, if not the app's stream store."""
    state = current_state()
    where = store if store is not None else state.store
    if not state.owners.may_read(lambda: where.owner(stream_id)):
        raise NotFound("no such stream (unknown or expired)")
    return stream_id


def follow(
    store: StreamStore,
    stream_id: str,
    after_id: int = 0,
    *,
    block_s: float = 1.0,
    origin: OriginReader | None = None,
    cancelled: Any = None,
    until: float | None = None,
) -> Iterator[Entry]:
    """The stream's records after ``after_id``, live ones as they come, then its ``End`` or
    ``Error``. Raises ``NotFound`` at once for an unknown or expired stream.

    Each empty wait of ``block_s`` also checks the producer's lease (:meth:`reap`). With
    ``origin``, this reader is the one that started the stream: it tells the producer how
    far it has read, and when it stops. With ``cancelled`` (a payload format's, such as the
    UI message stream's ``abort`` part), a cancelled stream ends with that payload and a
    clean ``End``, not ``error: cancelled``: what was stopped is kept, not failed. With
    ``until`` (unix seconds), the reader ends then with :data:`TOKEN_EXPIRED` (checked
    between reads, and no wait lasts past it)."""
    last = after_id
    seen = False  # the store has answered for this stream at least once
    read = store.reader(stream_id)
    try:
        while True:
            wait_s = block_s
            if until is not None:
                left = until - time.time()
                if left <= 0:
                    yield TOKEN_EXPIRED
                    return
                wait_s = min(block_s, left)
            try:
                records = read(last, wait_s)
            except NotFound:
                # Gone while followed: a store that can lose streams lost it (the owner's
                # tombstone may not be in yet). Not a 404 any more: the stream has begun.
                if not (seen and store.can_lose_streams):
                    raise
                records = [STORE_LOST]
            seen = True
            if not records:
                store.reap(stream_id)
                continue
            for record in records:
                if (
                    cancelled is not None
                    and isinstance(record, Error)
                    and record.type == CANCELLED.type
                ):
                    yield Data(last + 1, cancelled)
                    yield End(last + 1)
                    return
                yield record
                if not isinstance(record, Data):
                    return
                last = record.id
            if origin is not None:
                origin.advance(last)
    finally:
        if origin is not None:
            origin.detach()


def follow_response(
    stream_id: str,
    after_id: int = 0,
    *,
    fmt: str | None = None,
    headers: dict[str, str] | None = None,
    encoder: type[Encoder] | None = None,
    origin: OriginReader | None = None,
    cancelled: Any = None,
    store: StreamStore | None = None,
) -> Response:
    """In a view: serve ``stream_id`` from ``after_id`` in the format the request asks for
    (or ``fmt``, or with ``encoder``). A 404 if it is unknown or expired (raised before the
    first byte). ``origin``: this reader started the stream (backpressure,
    streamer.server.resumable.origin); ``cancelled``: see :func:`follow`; ``store``: where
    the stream is, if not the app's stream store."""
    config = current_config()
    reader = follow(
        store if store is not None else current_store(),
        stream_id,
        after_id,
        block_s=_block_s(config),
        origin=origin,
        cancelled=cancelled,
        until=current_state().owners.read_until(),
    )
    return stream_for_request(
        reader,
        first_id=after_id + 1,
        fmt=fmt,
        encoder=encoder,
        headers={
            **(headers or {}),
            "X-Stream-Id": stream_id,
            **current_state().owners.read_headers(stream_id),
        },
    )


def _block_s(config: Config) -> float:
    # How often an idle reader checks the lease: often enough to see a dead producer soon
    # after the lease runs out, rarely enough to cost nothing.
    return min(MAX_BLOCK_S, config.lease_s / 2)
