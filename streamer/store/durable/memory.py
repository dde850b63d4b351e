"""Durable Streams in this process's memory: one lock for every stream, one condition that
wakes every waiting reader on any change (a reader re-checks its own stream and sleeps again).

Under gevent the lock and the condition are gevent's (``threading`` is monkey-patched), so a
long-poll costs a greenlet, not a thread.

Bounded: at most ``max_bytes`` in all (each message's bytes plus :data:`MESSAGE_COST`, each
stream :data:`STREAM_COST`). Durable data is never evicted to make room: past the bound a
create or an append is refused with 503 (``store_full``) until streams are deleted or
expire."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field, replace

from ..memory import store_full
from ._base import (
    PRODUCER_TTL_S,
    ZERO,
    Appended,
    AppendSpec,
    Created,
    CreateError,
    CreateSpec,
    DurableStore,
    Info,
    Message,
    ProducerState,
    check_producer,
    fork_expiry,
    is_json,
    next_offset,
    normalize,
    same_config,
)
from .forks import sub_offset_prefix

MESSAGE_COST = 64  # bytes a message costs besides its data (an estimate)
STREAM_COST = 1024  # and a stream besides its messages


@dataclass(slots=True)
class _Stream:
    info: Info
    messages: list[Message] = field(default_factory=list)
    producers: dict[str, ProducerState] = field(default_factory=dict)
    closed_by: tuple[str, int, int] | None = None
    last_stream_seq: str | None = None
    touched: float = field(default_factory=time.monotonic)
    forks: int = 0  # streams forked from this one, alive
    cost: int = STREAM_COST  # what it counts toward the bound


def _offset_of(message: Message) -> str:
    return message.offset


class MemoryDurableStore(DurableStore):
    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._bytes = 0  # the streams' costs
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)

    # -- lifetime ---------------------------------------------------------------------------

    def _expired(self, s: _Stream) -> bool:
        info = s.info
        if info.expires_ts is not None and time.time() >= info.expires_ts:
            return True
        return info.ttl_s is not None and time.monotonic() >= s.touched + info.ttl_s

    def _get(self, path: str) -> _Stream | None:
        """The stream at ``path``, expired ones dropped (or soft-deleted if forked)."""
        s = self._streams.get(path)
        if s is None:
            return None
        if self._expired(s):
            if s.forks > 0:
                s.info.soft_deleted = True
                return s
            self._remove(path)
            return None
        return s

    def _remove(self, path: str) -> None:
        s = self._streams.pop(path, None)
        self._changed.notify_all()
        while s is not None:
            self._bytes -= s.cost
            if s.info.forked_from is None:
                return
            parent = self._streams.get(s.info.forked_from)
            if parent is None:
                return
            parent.forks = max(0, parent.forks - 1)
            if parent.forks or not parent.info.soft_deleted:
                return
            s = self._streams.pop(s.info.forked_from, None)

    def _room(self, size: int) -> None:
        if self._bytes + size > self.max_bytes:
            raise store_full()

    # -- the interface ----------------------------------------------------------------------

    def create(self, path: str, spec: CreateSpec) -> Created:
        with self._lock:
            existing = self._streams.get(path)
            if existing is not None and self._expired(existing) and existing.forks == 0:
                self._remove(path)
                existing = None
            if existing is not None:
                if existing.info.soft_deleted or self._expired(existing):
                    raise CreateError(
                        "conflict",
                        "a deleted stream still has forks: the path cannot be reused yet",
                    )
                if not same_config(existing.info, spec):
                    raise CreateError(
                        "conflict", "the stream exists with a different configuration"
                    )
                return Created(replace(existing.info), new=False)
            self._room(STREAM_COST + len(spec.data) + MESSAGE_COST)
            stream = self._new(spec)
            if spec.data:
                self._write(stream, spec.data)
            if spec.forked_from is not None:
                self._streams[spec.forked_from].forks += 1
            self._streams[path] = stream
            self._bytes += stream.cost
            self._changed.notify_all()
            return Created(replace(stream.info), new=True)

    def _new(self, spec: CreateSpec) -> _Stream:
        if spec.forked_from is None:
            info = Info(
                spec.content_type or "application/octet-stream",
                ZERO,
                spec.closed,
                spec.ttl_s,
                spec.expires_at,
                spec.expires_ts,
                owner=spec.owner,
            )
            return _Stream(info)
        source = self._get(spec.forked_from)
        if source is None:
            raise CreateError("source_missing", "the stream to fork does not exist")
        if source.info.soft_deleted:
            raise CreateError("source_gone", "the stream to fork was deleted")
        if spec.content_type and normalize(spec.content_type) != normalize(
            source.info.content_type
        ):
            raise CreateError("type_mismatch", "the fork's content type differs from its source's")
        at = spec.fork_offset or source.info.tail
        if at > source.info.tail:
            raise CreateError("bad_offset", "the fork offset is past the source's tail")
        ttl, expires_at, expires_ts = fork_expiry(spec, source.info)
        info = Info(
            source.info.content_type,
            at,
            spec.closed,
            ttl,
            expires_at,
            expires_ts,
            forked_from=spec.forked_from,
            fork_offset=at,
            fork_sub=spec.fork_sub,
            owner=spec.owner,
        )
        stream = _Stream(info)
        if spec.fork_sub:
            after = self._messages(source, at)
            prefix = sub_offset_prefix(
                after[0] if after else None, spec.fork_sub, is_json(info.content_type)
            )
            self._write(stream, prefix)
        return stream

    def _write(self, s: _Stream, data: bytes) -> str:
        offset = next_offset(s.info.tail, len(data))
        s.messages.append(Message(data, offset))
        s.cost += len(data) + MESSAGE_COST
        s.info.tail = offset
        return offset

    def info(self, path: str) -> Info | None:
        with self._lock:
            s = self._get(path)
            return replace(s.info) if s is not None else None

    def append(self, path: str, spec: AppendSpec) -> Appended:
        with self._lock:
            s = self._get(path)
            if s is None:
                return Appended("not_found")
            if s.info.soft_deleted:
                return Appended("gone")
            s.touched = time.monotonic()
            p = spec.producer
            if s.info.closed:
                if p is not None and s.closed_by == (p.id, p.epoch, p.seq):
                    return Appended("duplicate", s.info.tail, True, last_seq=p.seq)
                if not spec.data and p is None:  # close-only: idempotent
                    return Appended("ok", s.info.tail, True)
                return Appended("closed", s.info.tail, True)
            if (
                spec.data
                and spec.content_type is not None
                and normalize(spec.content_type) != normalize(s.info.content_type)
            ):
                return Appended("type_mismatch", s.info.tail)
            state = None
            if p is not None:
                self._drop_old_producers(s)
                refusal, state = check_producer(s.producers.get(p.id), p)
                if refusal is not None:
                    return replace(refusal, tail=s.info.tail)
            last = s.last_stream_seq
            if spec.seq is not None and last is not None and spec.seq <= last:
                return Appended("seq_conflict", s.info.tail)
            if spec.data:
                self._room(len(spec.data) + MESSAGE_COST)
                self._write(s, spec.data)
                self._bytes += len(spec.data) + MESSAGE_COST
            if p is not None and state is not None:
                s.producers[p.id] = state
            if spec.seq is not None:
                s.last_stream_seq = spec.seq
            if spec.close:
                s.info.closed = True
                if p is not None:
                    s.closed_by = (p.id, p.epoch, p.seq)
            self._changed.notify_all()
            return Appended("ok", s.info.tail, s.info.closed, last_seq=p.seq if p else None)

    def _drop_old_producers(self, s: _Stream) -> None:
        cutoff = time.time() - PRODUCER_TTL_S
        for pid in [pid for pid, st in s.producers.items() if st.updated < cutoff]:
            del s.producers[pid]

    def read(self, path: str, offset: str) -> tuple[Info, list[Message]] | None:
        with self._lock:
            s = self._get(path)
            if s is None:
                return None
            if not s.info.soft_deleted:
                s.touched = time.monotonic()
            return replace(s.info), self._messages(s, offset)

    def _messages(self, s: _Stream, offset: str, cap: str | None = None) -> list[Message]:
        """``s``'s messages after ``offset`` up to ``cap`` (inclusive), its source's first."""
        out: list[Message] = []
        info = s.info
        fork_at = info.fork_offset
        if info.forked_from is not None and fork_at is not None and offset < fork_at:
            source = self._streams.get(info.forked_from)
            if source is not None:
                top = fork_at if cap is None else min(cap, fork_at)
                out.extend(self._messages(source, offset, top))
        # Offsets sort as text and grow with each message: a search, not a scan (a follower
        # at the tail of a long stream reads one message, not the length).
        messages = s.messages
        start = bisect_right(messages, offset, key=_offset_of)
        end = len(messages) if cap is None else bisect_right(messages, cap, key=_offset_of)
        out.extend(messages[start:end])
        return out

    def wait(self, path: str, offset: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                s = self._get(path)
                if s is None or s.info.soft_deleted or s.info.closed or s.info.tail > offset:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def delete(self, path: str) -> str:
        with self._lock:
            s = self._get(path)
            if s is None:
                return "not_found"
            if s.info.soft_deleted:
                return "gone"
            if s.forks > 0:
                s.info.soft_deleted = True
                self._changed.notify_all()
            else:
                self._remove(path)
            return "deleted"
