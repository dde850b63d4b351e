"""The other face: a Durable Stream read as streamer's records, so streamer's client and
formats (``GET /streams/<path>``: text, NDJSON, SSE with ``Last-Event-ID``) follow a stream
that any process appends to over the protocol. No copy: each read is of the durable store.

Records are numbered from the stream's start: one :class:`~streamer.wire.records.Data` per
message, or for ``application/json`` per value (a batch appended as one array is several
records); a ``text/*`` message is its text, any other its bytes in base64. A closed stream
ends with ``End``; a deleted one is gone (404 before the first byte, else in-band). Only a
stream whose path has the shape of a stream id (16 to 64 of ``A-Z a-z 0-9 _ -``) has this
face, at ``GET /streams/<path>``.

:class:`DurableRecords` is a read-only :class:`~streamer.store.StreamStore` over the
durable store, for :func:`streamer.server.resumable.follow`: its writes raise."""

from __future__ import annotations

import base64
import json
import time

from ...errors import NotFound
from ...store import Entry, StreamStore, past_end
from ...store.durable import ZERO, DurableStore, Info, Message, is_json
from ...wire.records import Data, End

_WRITE = "a Durable Stream's records are written over the protocol, not by a producer"


def records(info: Info, messages: list[Message]) -> list[Entry]:
    """Every record of a stream whose messages from its start are ``messages``."""
    ct = info.content_type.split(";")[0].strip().lower()
    out: list[Entry] = []
    for m in messages:
        if is_json(ct):
            values = json.loads(b"[" + m.data.rstrip(b",") + b"]")
        elif ct.startswith("text/"):
            values = [m.data.decode("utf-8", "replace")]
        else:
            values = [base64.b64encode(m.data).decode()]
        first = len(out) + 1
        out.extend([Data(first + i, v) for i, v in enumerate(values)])
    if info.closed:
        out.append(End(len(out)))
    return out


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
        deadline = time.monotonic() + block_s
        while True:
            got = self.durable.read(stream_id, ZERO)
            if got is None or got[0].soft_deleted:
                raise NotFound("no such stream (unknown or expired)")
            info, messages = got
            every = records(info, messages)
            count = len(every) - (1 if info.closed else 0)  # the data records
            if after_id > count:
                raise past_end(after_id)  # as the stream store says it (a 400; SSE's 204)
            after = every[after_id:]
            left = deadline - time.monotonic()
            if after or left <= 0:
                return after
            self.durable.wait(stream_id, info.tail, left)

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
