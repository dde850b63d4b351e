"""Where a fork with ``Stream-Fork-Sub-Offset`` diverges inside a message (PROTOCOL.md 4.2):
the part of the source's first message past the fork offset that the fork inherits, copied
into the fork as its own first message."""

from __future__ import annotations

import json

from ._base import CreateError, Message


def sub_offset_prefix(first: Message | None, sub: int, json_mode: bool) -> bytes:
    """The first ``sub`` JSON values (``json_mode``) or bytes of ``first``; a
    :class:`CreateError` (``bad_sub_offset``) when there is no such message or it is shorter."""
    if first is None:
        raise CreateError("bad_sub_offset", "Stream-Fork-Sub-Offset: no data past the offset")
    if not json_mode:
        if sub > len(first.data):
            raise CreateError("bad_sub_offset", "Stream-Fork-Sub-Offset is past the message")
        return first.data[:sub]
    values = json.loads(b"[" + first.data.rstrip(b",") + b"]")
    if sub > len(values):
        raise CreateError("bad_sub_offset", "Stream-Fork-Sub-Offset is past the message")
    return "".join(
        json.dumps(v, separators=(",", ":"), ensure_ascii=False) + "," for v in values[:sub]
    ).encode()
