"""The other face: a Durable Stream read as streamer's records, so streamer's client and
formats (``GET /streams/<path>``: text, NDJSON, SSE with ``Last-Event-ID``) follow a stream
that any process appends to over the protocol. No copy: each read is of the durable store.

Records are numbered from the stream's start: one :class:`~streamer.wire.records.Data` per
message, or for ``application/json`` per value (a batch appended as one array is several
records); a ``text/*`` message is its text, any other its bytes in base64. A closed stream
ends with ``End``; a deleted one is gone (404 before the first byte, else in-band). The face
is at ``GET /streams/<path>``, for a path of URL-safe segments
(:func:`streamer.server.resumable.routes.face_path`).

:class:`DurableRecords` is a read-only :class:`~streamer.store.StreamStore` over the
durable store, for :func:`streamer.server.resumable.follow`: its writes raise. A follower
reads through a :class:`Cursor` (:meth:`DurableRecords.reader`), which keeps the durable
offset where its last read ended and how many records came before it, so a wake-up reads
the new messages only; a read anywhere else (a resume from an earlier id) starts again from
the stream's start. Before the cursor every wake-up read the whole stream: 14 ms of CPU per
wake-up at 10,000 text messages (``bench/durable_face.py``)."""

from __future__ import annotations

import base64
import json
import time

from ...errors import NotFound
from ...store import Entry, StreamStore, past_end
from ...store.durable import ZERO, DurableStore, Message, is_json
from ...wire.records import Data, End

_WRITE = "a Durable Stream's records are written over the protocol, not by a producer"


def records(
    content_type: str, messages: list[Message], before: int = 0, *, closed: bool = False
) -> list[Entry]:
    """The records of ``messages``, which follow ``before`` records of the stream, and its
    ``End`` if ``closed`` (the messages reach the stream's closed tail)."""
    ct = content_type.split(";")[0].strip().lower()
    json_mode, text = is_json(ct), ct.startswith("text/")
    out: list[Entry] = []
    for m in messages:
        if json_mode:
            values = json.loads(b"[" + m.data.rstrip(b",") + b"]")
        elif text:
            values = [m.data.decode("utf-8", "replace")]
        else:
            values = [base64.b64encode(m.data).decode()]
        first = before + len(out) + 1
        out.extend([Data(first + i, v) for i, v in enumerate(values)])
    if closed:
        out.append(End(before + len(out)))
    return out


class Cursor:
    """One follower's reads of the stream at ``path``: :meth:`DurableRecords.read`, from
    where the last one ended when the follower asks for the records after it."""

    __slots__ = ("count", "durable", "offset", "path")

    def __init__(self, durable: DurableStore, path: str) -> None:
        self.durable, self.path = durable, path
        self.count, self.offset = 0, ZERO  # the data records before the durable offset

    def __call__(self, after_id: int, block_s: float) -> list[Entry]:
        deadline = time.monotonic() + block_s
        while True:
            if after_id < self.count:
                self.count, self.offset = 0, ZERO  # an earlier id: from the start again
            got = self.durable.read(self.path, self.offset)
            if got is None or got[0].soft_deleted:
                raise NotFound("no such stream (unknown or expired)")
            info, messages = got
            # A store's read is bounded in bytes (Redis: 4 MiB): the rest is read next.
            more = bool(messages) and messages[-1].offset < info.tail
            before = self.count
            new = records(info.content_type, messages, before, closed=info.closed and not more)
            if messages:
                self.offset = messages[-1].offset
                self.count = before + len(new) - (0 if more or not info.closed else 1)
            if after_id > self.count:
                if more:
                    continue  # the id is further on
                raise past_end(after_id)  # as the stream store says it (a 400; SSE's 204)
            after = new[after_id - before :]
            if more and not after:
                continue  # the records after the id are in the rest
            left = deadline - time.monotonic()
            if after or left <= 0:
                return after
            self.durable.wait(self.path, info.tail, left)


class DurableRecords(StreamStore):
    def __init__(self, store: DurableStore) -> None:
        self.durable = store

    @property
    def name(self) -> str:
        return "durable"

    def ping(self) -> None:
        pass

    def owner(self, stream_id: str) -> str | None:
        info = self.durable.info(stream_id)
        if info is None or info.soft_deleted:
            raise NotFound("no such stream (unknown or expired)")
        return info.owner

    def read(self, stream_id: str, after_id: int, block_s: float) -> list[Entry]:
        return Cursor(self.durable, stream_id)(after_id, block_s)

    def reader(self, stream_id: str) -> Cursor:
        return Cursor(self.durable, stream_id)

    def reap(self, stream_id: str) -> bool:
        return False  # no lease: the stream's writers are outside

    def create(
        self, stream_id: str, owner: str | None = None, owner_limit: int | None = None
    ) -> None:
        raise NotImplementedError(_WRITE)

    def append(self, stream_id: str, record: Entry) -> bool:
        raise NotImplementedError(_WRITE)

    def keep_alive(self, stream_id: str, wait_s: float) -> bool:
        raise NotImplementedError(_WRITE)

    def cancel(self, stream_id: str) -> bool:
        raise NotImplementedError(_WRITE)

    def name_stream(self, name: str, stream_id: str) -> None:
        raise NotImplementedError(_WRITE)

    def named(self, name: str) -> str | None:
        return None
