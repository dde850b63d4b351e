"""SSE framing for ``live=sse`` (PROTOCOL.md 5.8): ``data`` events carry a message (text, or
base64 for a binary stream), ``control`` events carry the offset, cursor and state as JSON.

Every line of a payload gets its own ``data:`` (split on CR, LF and CRLF, so a payload can
never end an event early), and no space follows the colon: a reader strips exactly one, and
a payload that starts with a space keeps it."""

from __future__ import annotations

import json
import re

_LINES = re.compile(r"\r\n|\r|\n")


def event(kind: str, payload: str) -> bytes:
    lines = _LINES.split(payload)
    return (f"event: {kind}\n" + "".join(f"data:{line}\n" for line in lines) + "\n").encode()


def control(offset: str, cursor: str | None, *, up_to_date: bool, closed: bool) -> bytes:
    body: dict[str, object] = {"streamNextOffset": offset}
    if closed:  # closed implies up to date; no cursor, as nobody reconnects
        body["streamClosed"] = True
        body["upToDate"] = True
    else:
        if cursor is not None:
            body["streamCursor"] = cursor
        if up_to_date:
            body["upToDate"] = True
    return event("control", json.dumps(body, separators=(",", ":")))
