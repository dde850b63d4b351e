"""One stream, two faces: a resumable stream (``stream(..., resumable=True)``) read as a
Durable Stream at ``<prefix>/resumable/<stream id>``, from the stream store's own records
(no copy), read-only.

It is an ``application/json`` stream: each data record is one message, its payload (with an
event name: ``{"event": name, "data": payload}``), and its end is in-band: a last message
``{"end": {"count": n, ...}}`` or ``{"error": {"type", "message"}}``, after which the stream
is closed. Record ``n``'s offset is ``0000000000000000_<n, 16 digits>``, so the ``n`` of a
resume is in the offset. Appends, closes and deletes are refused (405): the stream's
producer writes it, and ``DELETE /streams/<id>`` cancels it."""

from __future__ import annotations

import json
import time

from ...errors import DurableError, NotFound, RecordsExpired
from ...store import MAX_BLOCK_S, StreamStore, valid_stream_id
from ...store.durable import (
    Appended,
    AppendSpec,
    Created,
    CreateSpec,
    DurableStore,
    Info,
    Message,
)
from ...store.durable._base import OFFSET
from ...wire.records import Data, End, Error

PREFIX = "resumable/"


def read_only() -> DurableError:
    return DurableError(
        405,
        "read_only",
        "a resumable stream is written by its producer; DELETE /streams/<id> cancels it",
        {"Allow": "GET, HEAD"},
    )


def offset_of(record_id: int) -> str:
    return f"{0:016d}_{record_id:016d}"


def record_after(offset: str) -> int:
    """The record id an offset names (0 for the start, or an offset of another kind)."""
    if not OFFSET.fullmatch(offset):
        return 0
    return int(offset.split("_")[1])


def _value(entry: Data | End | Error) -> object:
    if isinstance(entry, Data):
        return entry.data if entry.event is None else {"event": entry.event, "data": entry.data}
    if isinstance(entry, End):
        return {"end": {"count": entry.count, **entry.extra}}
    return {"error": {"type": entry.type, "message": entry.message}}


def _message(entry: Data | End | Error, record_id: int) -> Message:
    text = json.dumps(_value(entry), separators=(",", ":"), ensure_ascii=False, default=str)
    return Message((text + ",").encode(), offset_of(record_id))


def _id(entry: Data | End | Error, previous: int) -> int:
    return entry.id if isinstance(entry, Data) else previous + 1


class ResumableFace(DurableStore):
    """A :class:`~streamer.store.durable.DurableStore` over a
    :class:`~streamer.store.StreamStore`: ``info``, ``read`` and ``wait``; the writes are
    refused."""

    def __init__(self, store: StreamStore) -> None:
        self.store = store

    def create(self, path: str, spec: CreateSpec) -> Created:
        raise read_only()

    def append(self, path: str, spec: AppendSpec) -> Appended:
        raise read_only()

    def delete(self, path: str) -> str:
        raise read_only()

    @staticmethod
    def stream_id(path: str) -> str | None:
        if not path.startswith(PREFIX):
            return None
        try:
            return valid_stream_id(path[len(PREFIX) :])
        except NotFound:
            return None

    def _scan(
        self, stream_id: str, after: int, block_s: float
    ) -> tuple[list[Message], bool] | None:
        """The messages after record ``after`` and whether the stream has ended; None if
        unknown. Records dropped by the store's bound: 410, as a resume gets."""
        try:
            entries = self.store.read(stream_id, after, block_s)
        except NotFound:
            return None
        except RecordsExpired as exc:
            raise DurableError(410, "records_expired", exc.message) from exc
        messages = []
        last = after
        for entry in entries:
            last = _id(entry, last)
            messages.append(_message(entry, last))
        return messages, bool(entries) and not isinstance(entries[-1], Data)

    def read(self, path: str, offset: str) -> tuple[Info, list[Message]] | None:
        stream_id = self.stream_id(path)
        if stream_id is None:
            return None
        after = record_after(offset)
        try:  # the whole stream: its tail and its end, and the part after the offset
            got = self._scan(stream_id, 0, 0)
        except DurableError:  # the start was dropped: from the offset only
            got = self._scan(stream_id, after, 0)
            after = -1
        if got is None:
            return None
        messages, closed = got
        tail = messages[-1].offset if messages else offset_of(max(after, 0))
        if after >= 0:
            messages = [m for m in messages if record_after(m.offset) > after]
        info = Info("application/json", tail, closed, owner=self.store.owner(stream_id))
        return info, messages

    def info(self, path: str) -> Info | None:
        got = self.read(path, offset_of(2**53))
        return got[0] if got is not None else None

    def wait(self, path: str, offset: str, timeout_s: float) -> None:
        stream_id = self.stream_id(path)
        if stream_id is None:
            return
        deadline = time.monotonic() + timeout_s
        after = record_after(offset)
        while (left := deadline - time.monotonic()) > 0:
            got = self._scan(stream_id, after, min(left, MAX_BLOCK_S))
            if got is None or got[0]:
                return
