"""The in-memory stream store: one process, bounded, the default.

Bounds: at most ``resumable_max_streams`` streams (creating one more first drops expired
streams, then the oldest finished or orphaned one; if every stream is still running, the
new one is refused with 503) and ``resumable_max_records`` records per stream (older
records are dropped; a resume that needs them gets ``RecordsExpired``). A finished stream
expires ``stream_ttl_s`` after it finished (a running one, a lease later than its last renewal).

And at most ``resumable_max_bytes`` of records in all (an estimate of what they hold in
memory, :func:`_size`): a data record that would go past it first evicts finished streams,
oldest finished first; if only running streams are left, the append raises ``Unavailable``
(``store_full``), which ends that stream with an ``error`` record, and a new stream is
refused with 503 (``store_full``) while the store is over 15/16 full of running streams.
So memory stops growing at the bound whatever the clients ask for.

Owners: a stream records the key id (``key1``...) that started it, and ``create`` refuses an
owner a stream beyond ``owner_limit`` running ones (429).

Time is read from ``clock`` (``time.monotonic`` unless a test passes a fake one to make leases
and TTLs lapse at once); waits are real.

Greenlet-safe, not thread-safe: it is meant for one gevent worker, where no other greenlet
runs between two statements that do not wait. Waits use gevent events, so a blocked reader
lets the producer run, with or without monkey-patching.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gevent.event import Event

from ..config import Config
from ..errors import NotFound, RecordsExpired, Unavailable
from ..wire.records import Data
from ._base import (
    CANCELLED,
    PRODUCER_LOST,
    Entry,
    StreamStore,
    name_ttl_s,
    owner_limit_reached,
    past_end,
)

# What one kept record costs besides its payload: the Data object (~48 bytes with slots),
# its deque slot, and the allocator's rounding. Measured with bench/attack_res.py's RSS.
_RECORD_OVERHEAD = 96


def _size(record: Entry) -> int:
    """An estimate of the memory ``record`` holds while kept (str payloads exactly)."""
    if not isinstance(record, Data):
        return _RECORD_OVERHEAD + 64
    payload: Any = record.data
    if isinstance(payload, str):
        return _RECORD_OVERHEAD + sys.getsizeof(payload)
    # A JSON payload: its objects take a few times their text.
    return _RECORD_OVERHEAD + 4 * len(json.dumps(payload, default=str))


def store_full() -> Unavailable:
    return Unavailable(
        "the stream store is full; try again later", type="store_full", retry_after=5
    )


class _Stream:
    __slots__ = (
        "bytes",
        "changed",
        "expires",
        "finished",
        "first",
        "last",
        "lease_until",
        "owner",
        "records",
        "stop",
    )

    def __init__(
        self, max_records: int, now: float, lease_s: float, ttl_s: float, owner: str | None = None
    ) -> None:
        self.owner = owner
        self.bytes = 0  # _size() of the records kept
        self.records: deque[Entry] = deque(maxlen=max_records)
        self.first = 1  # sequence number of records[0]
        self.last = 0  # sequence number of the last record
        self.finished = False
        self.lease_until = now + lease_s
        self.expires = now + ttl_s + lease_s
        # Replaced on every append, so a reader waits on the event of the state it saw.
        self.changed = Event()
        self.stop = Event()  # set when the stream finishes: wakes the owner's keep_alive

    @property
    def last_data(self) -> int:
        return self.last - 1 if self.finished else self.last


class MemoryStore(StreamStore):
    """Streams in this process's memory. See the module docstring for the bounds."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config)
        self._clock = clock
        self._streams: dict[str, _Stream] = {}  # insertion order: oldest first
        self._finished: dict[str, None] = {}  # finished streams, oldest finished first
        self._owned: dict[str, set[str]] = {}  # owner -> ids of its streams (running, maybe)
        self.bytes = 0  # _size() of every record kept
        # Streams' names (name_stream): name -> (stream id, expiry); oldest named first.
        self._names: dict[str, tuple[str, float]] = {}

    @property
    def name(self) -> str:
        return "memory"

    def ping(self) -> None:
        pass

    def create(
        self, stream_id: str, owner: str | None = None, owner_limit: int | None = None
    ) -> None:
        now = self._clock()
        if (
            owner is not None
            and owner_limit is not None
            and self._running_of(owner, now) >= owner_limit
        ):
            raise owner_limit_reached(owner_limit)
        if len(self._streams) >= self.config.resumable_max_streams:
            self._make_room(now)
        # A new stream needs room to grow: refused while the store is over 15/16 full of
        # running streams, so it is told 503 now rather than store_full after a record.
        high = self.config.resumable_max_bytes * 15 // 16
        while self.bytes >= high:
            if not self._evict_finished():
                raise store_full()
        cfg = self.config
        self._streams[stream_id] = _Stream(
            cfg.resumable_max_records, now, cfg.lease_s, cfg.stream_ttl_s, owner
        )
        if owner is not None:
            self._owned.setdefault(owner, set()).add(stream_id)

    def owner(self, stream_id: str) -> str | None:
        return self._get(stream_id).owner

    def _running_of(self, owner: str, now: float) -> int:
        ids = self._owned.get(owner)
        if not ids:
            return 0
        for sid in list(ids):
            st = self._streams.get(sid)
            if st is None or st.finished or st.lease_until <= now:
                ids.discard(sid)  # a lapsed lease frees the slot: its producer is gone
        if not ids:
            del self._owned[owner]
        return len(ids)

    def _drop(self, stream_id: str) -> None:
        st = self._streams.pop(stream_id, None)
        if st is not None:
            self.bytes -= st.bytes
        self._finished.pop(stream_id, None)

    def _evict_finished(self) -> bool:
        """Drop the oldest finished stream; False if there is none."""
        oldest = next(iter(self._finished), None)
        if oldest is None:
            return False
        self._drop(oldest)
        return True

    def _make_room(self, now: float) -> None:
        for sid in [s for s, st in self._streams.items() if st.expires <= now]:
            self._drop(sid)
        for sid, st in self._streams.items():
            if len(self._streams) < self.config.resumable_max_streams:
                return
            if st.finished or st.lease_until <= now:
                self._drop(sid)
                break  # the dict changed; one eviction is all a create needs
        if len(self._streams) >= self.config.resumable_max_streams:
            raise Unavailable(
                "too many resumable streams are running; try again later",
                type="too_many_streams",
                retry_after=self.config.lease_s,
            )

    def _get(self, stream_id: str) -> _Stream:
        st = self._streams.get(stream_id)
        if st is None or st.expires <= self._clock():
            self._drop(stream_id)
            raise NotFound("no such stream (unknown or expired)")
        return st

    def append(self, stream_id: str, record: Entry) -> bool:
        try:
            st = self._get(stream_id)
        except NotFound:
            return False
        if st.finished:
            return False
        if isinstance(record, Data):
            if record.id <= st.last:
                return True  # already there: appends are idempotent
            if record.id != st.last + 1:
                raise ValueError(f"data id {record.id} does not follow {st.last}")
            size = _size(record)
            limit = self.config.resumable_max_bytes
            while self.bytes + size > limit:
                if not self._evict_finished():
                    raise store_full()
            self._push(st, record, stream_id, size)
        else:
            self._push(st, record, stream_id)  # a terminal record always fits
        return True

    def _push(self, st: _Stream, record: Entry, stream_id: str, size: int = 0) -> None:
        if len(st.records) == st.records.maxlen:
            st.first += 1
            dropped = _size(st.records[0])
            st.bytes -= dropped
            self.bytes -= dropped
        st.records.append(record)
        size = size or _size(record)
        st.bytes += size
        self.bytes += size
        st.last += 1
        if not isinstance(record, Data):
            st.finished = True
            st.stop.set()
            self._finished[stream_id] = None
        st.expires = self._clock() + self._ttl_s(st)
        changed, st.changed = st.changed, Event()
        changed.set()

    def _ttl_s(self, st: _Stream) -> float:
        # A running stream lives a lease longer than a finished one, so that its owner's
        # renewals (every lease/3) keep it alive even with a TTL shorter than the lease.
        return self.config.stream_ttl_s + (0.0 if st.finished else self.config.lease_s)

    def keep_alive(self, stream_id: str, wait_s: float) -> bool:
        try:
            st = self._get(stream_id)
        except NotFound:
            return False
        if st.finished:
            return False
        now = self._clock()
        st.lease_until = now + self.config.lease_s
        st.expires = now + self._ttl_s(st)
        st.stop.wait(wait_s)
        return not st.finished and stream_id in self._streams

    def read(self, stream_id: str, after_id: int, block_s: float) -> list[Entry]:
        st = self._get(stream_id)
        if after_id > st.last_data:
            raise past_end(after_id)
        if after_id >= st.last and block_s > 0:
            st.changed.wait(block_s)
            st = self._get(stream_id)
        if after_id >= st.last:
            return []
        if after_id + 1 < st.first:
            raise RecordsExpired(f"records after {after_id} are no longer kept")
        records = list(st.records)
        return records[after_id + 1 - st.first :]

    def cancel(self, stream_id: str) -> bool:
        st = self._get(stream_id)
        if st.finished:
            return False
        self._push(st, CANCELLED, stream_id)
        return True

    def name_stream(self, name: str, stream_id: str) -> None:
        now = self._clock()
        self._names.pop(name, None)
        # Bounded as the streams are: a name whose stream is gone is dropped first, then the
        # oldest name.
        if len(self._names) >= self.config.resumable_max_streams:
            for old, (sid, expires) in list(self._names.items()):
                if expires <= now or sid not in self._streams:
                    del self._names[old]
        while len(self._names) >= self.config.resumable_max_streams:
            del self._names[next(iter(self._names))]
        self._names[name] = (stream_id, now + name_ttl_s(self.config))

    def named(self, name: str) -> str | None:
        found = self._names.get(name)
        if found is None or found[1] <= self._clock():
            self._names.pop(name, None)
            return None
        return found[0]

    def reap(self, stream_id: str) -> bool:
        try:
            st = self._get(stream_id)
        except NotFound:
            return False
        if st.finished or st.lease_until > self._clock():
            return False
        self._push(st, PRODUCER_LOST, stream_id)
        return True
