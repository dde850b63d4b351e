"""The in-memory stream store: one process, bounded, the default.

Bounds: at most ``resumable_max_streams`` streams (creating one more first drops expired
streams, then the oldest finished or orphaned one; if every stream is still running, the
new one is refused with 503) and ``resumable_max_records`` records per stream (older
records are dropped; a resume that needs them gets ``RecordsExpired``). A finished stream
expires ``stream_ttl_s`` after it finished (a running one, a lease later than its last renewal).

Greenlet-safe, not thread-safe: it is meant for one gevent worker, where no other greenlet
runs between two statements that do not wait. Waits use gevent events, so a blocked reader
lets the producer run, with or without monkey-patching.
"""

from __future__ import annotations

import time
from collections import deque

from gevent.event import Event

from ..config import Config
from ..errors import NotFound, RecordsExpired, Unavailable
from ..records import Data
from . import CANCELLED, PRODUCER_LOST, Entry, StreamStore, past_end


class _Stream:
    __slots__ = ("changed", "expires", "finished", "first", "last", "lease_until", "records",
                 "stop")

    def __init__(self, max_records: int, now: float, lease_s: float, ttl_s: float) -> None:
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

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._streams: dict[str, _Stream] = {}  # insertion order: oldest first

    @property
    def name(self) -> str:
        return "memory"

    def ping(self) -> None:
        pass

    def create(self, stream_id: str) -> None:
        now = time.monotonic()
        if len(self._streams) >= self.config.resumable_max_streams:
            self._make_room(now)
        cfg = self.config
        self._streams[stream_id] = _Stream(cfg.resumable_max_records, now, cfg.lease_s,
                                           cfg.stream_ttl_s)

    def _make_room(self, now: float) -> None:
        for sid in [s for s, st in self._streams.items() if st.expires <= now]:
            del self._streams[sid]
        for sid, st in self._streams.items():
            if len(self._streams) < self.config.resumable_max_streams:
                return
            if st.finished or st.lease_until <= now:
                del self._streams[sid]
                break  # the dict changed; one eviction is all a create needs
        if len(self._streams) >= self.config.resumable_max_streams:
            raise Unavailable("too many resumable streams are running; try again later",
                              type="too_many_streams", retry_after=self.config.lease_s)

    def _get(self, stream_id: str) -> _Stream:
        st = self._streams.get(stream_id)
        if st is None or st.expires <= time.monotonic():
            self._streams.pop(stream_id, None)
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
        self._push(st, record)
        return True

    def _push(self, st: _Stream, record: Entry) -> None:
        if len(st.records) == st.records.maxlen:
            st.first += 1
        st.records.append(record)
        st.last += 1
        if not isinstance(record, Data):
            st.finished = True
            st.stop.set()
        st.expires = time.monotonic() + self._ttl_s(st)
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
        now = time.monotonic()
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
        return records[after_id + 1 - st.first:]

    def cancel(self, stream_id: str) -> bool:
        st = self._get(stream_id)
        if st.finished:
            return False
        self._push(st, CANCELLED)
        return True

    def reap(self, stream_id: str) -> bool:
        try:
            st = self._get(stream_id)
        except NotFound:
            return False
        if st.finished or st.lease_until > time.monotonic():
            return False
        self._push(st, PRODUCER_LOST)
        return True

