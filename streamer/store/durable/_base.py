"""What a Durable Streams backend holds and promises (the contract: :mod:`streamer.store.durable`).

A stream is a path, a content type and a list of *messages* (one per append; the bytes as
sent, or for ``application/json`` the appended values, each JSON text followed by ``,``).
Every message ends at an *offset*, a token that sorts as text: ``<16 digits>_<16 digits>``,
the second half the bytes stored before it (plus a small frame, as the reference server
counts), so offsets grow strictly and a reader's "after this offset" is a string comparison.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

ZERO = "0000000000000000_0000000000000000"
FRAME = 5  # bytes counted per message on top of its data (the reference server's framing)
OFFSET = re.compile(r"\d{1,16}_\d{1,16}")
#: Producer state is kept this long after its last append (PROTOCOL.md 5.2.1 suggests 7 days).
PRODUCER_TTL_S = 7 * 86400.0


def next_offset(tail: str, size: int) -> str:
    """The offset after a message of ``size`` bytes appended at ``tail``."""
    seq, pos = tail.split("_")
    return f"{int(seq):016d}_{int(pos) + FRAME + size:016d}"


def is_json(content_type: str | None) -> bool:
    return normalize(content_type) == "application/json"


def normalize(content_type: str | None) -> str:
    """``text/plain; charset=utf-8`` -> ``text/plain``: what two content types are compared by."""
    return (content_type or "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Message:
    data: bytes
    offset: str  # where it ends: the next reader's offset


@dataclass(frozen=True, slots=True)
class Producer:
    id: str
    epoch: int
    seq: int


@dataclass(slots=True)
class Info:
    """A stream's metadata: what ``HEAD`` tells."""

    content_type: str
    tail: str
    closed: bool = False
    ttl_s: int | None = None
    expires_at: str | None = None  # as the creator sent it (RFC 3339)
    expires_ts: float | None = None  # the same, as a Unix time
    soft_deleted: bool = False
    forked_from: str | None = None
    fork_offset: str | None = None
    fork_sub: int = 0
    owner: str | None = None  # the key id that created it (with client keys), else None


@dataclass(frozen=True, slots=True)
class CreateSpec:
    """A ``PUT``: ``content_type`` None only for a fork that inherits its source's."""

    content_type: str | None
    ttl_s: int | None = None
    expires_at: str | None = None
    expires_ts: float | None = None
    closed: bool = False
    forked_from: str | None = None
    fork_offset: str | None = None
    fork_sub: int = 0
    data: bytes = b""
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    info: Info
    new: bool  # 201, else an identical stream was there (200)


@dataclass(frozen=True, slots=True)
class Appended:
    """What an append (or a close) did. ``status``:

    ``ok`` (appended, or closed), ``duplicate`` (a producer's retry: nothing written),
    ``closed`` (the stream was closed: 409), ``stale_epoch`` (403), ``bad_epoch_seq`` (400),
    ``seq_gap`` (409), ``seq_conflict`` (``Stream-Seq`` regression: 409), ``type_mismatch``
    (409), ``not_found``, ``gone`` (soft-deleted: 410)."""

    status: str
    tail: str = ""
    closed: bool = False
    last_seq: int | None = None
    epoch: int | None = None
    expected: int | None = None
    received: int | None = None


@dataclass(frozen=True, slots=True)
class AppendSpec:
    data: bytes  # empty: close only
    content_type: str | None = None
    seq: str | None = None  # Stream-Seq
    producer: Producer | None = None
    close: bool = False


@dataclass(slots=True)
class ProducerState:
    epoch: int
    last_seq: int
    updated: float = field(default_factory=time.time)


class CreateError(Exception):
    """Why a ``PUT`` was refused: ``kind`` is ``conflict`` (409), ``source_missing`` (404),
    ``source_gone`` (409), ``type_mismatch`` (409), ``bad_offset`` or ``bad_sub_offset``
    (400), ``bad_json`` or ``empty_array`` (400)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def check_producer(
    state: ProducerState | None, producer: Producer
) -> tuple[Appended | None, ProducerState]:
    """PROTOCOL.md 5.2.1's validation: (a refusal or None, the state to keep on success)."""
    new = ProducerState(producer.epoch, producer.seq)
    if state is None:
        if producer.seq != 0:
            return Appended("seq_gap", expected=0, received=producer.seq), new
        return None, new
    if producer.epoch < state.epoch:
        return Appended("stale_epoch", epoch=state.epoch), new
    if producer.epoch > state.epoch:
        if producer.seq != 0:
            return Appended("bad_epoch_seq"), new
        return None, new
    if producer.seq <= state.last_seq:
        return Appended("duplicate", last_seq=state.last_seq), new
    if producer.seq == state.last_seq + 1:
        return None, new
    return Appended("seq_gap", expected=state.last_seq + 1, received=producer.seq), new


def fork_expiry(spec: CreateSpec, source: Info) -> tuple[int | None, str | None, float | None]:
    """A fork's TTL or expiry (PROTOCOL.md 4.2's table): its own if it asks, else its
    source's."""
    if spec.ttl_s is not None or spec.expires_at is not None:
        return spec.ttl_s, spec.expires_at, spec.expires_ts
    return source.ttl_s, source.expires_at, source.expires_ts


def same_config(info: Info, spec: CreateSpec) -> bool:
    """Whether an existing stream is what ``spec`` would create (PUT's 200, else 409)."""
    return (
        (normalize(spec.content_type) or "application/octet-stream")
        == (normalize(info.content_type) or "application/octet-stream")
        and spec.ttl_s == info.ttl_s
        and spec.expires_at == info.expires_at
        and spec.closed == info.closed
        and spec.forked_from == info.forked_from
        and (spec.fork_offset is None or spec.fork_offset == info.fork_offset)
        and spec.fork_sub == info.fork_sub
    )


class DurableStore(ABC):
    """Durable Streams on one backend. Paths are the part of the URL after the mount."""

    @abstractmethod
    def create(self, path: str, spec: CreateSpec) -> Created:
        """Create a stream (or a fork), or confirm an identical one; :class:`CreateError`."""

    @abstractmethod
    def info(self, path: str) -> Info | None:
        """The stream's metadata (``soft_deleted`` included), None if unknown or expired."""

    @abstractmethod
    def append(self, path: str, spec: AppendSpec) -> Appended:
        """Append (and/or close) atomically: closure, content type, ``Stream-Seq`` and the
        producer checked and the data written in one step."""

    @abstractmethod
    def read(self, path: str, offset: str) -> tuple[Info, list[Message]] | None:
        """The messages after ``offset`` (a fork's inherited ones first); None if unknown.
        Refreshes a sliding TTL."""

    @abstractmethod
    def wait(self, path: str, offset: str, timeout_s: float) -> None:
        """Return when the stream has a message after ``offset``, is closed or gone, or after
        ``timeout_s``."""

    @abstractmethod
    def delete(self, path: str) -> str:
        """``deleted``, ``gone`` (already soft-deleted) or ``not_found``."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""
