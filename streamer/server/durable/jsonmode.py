"""JSON mode (PROTOCOL.md 9.1): an ``application/json`` stream keeps message boundaries.

An append's body is one JSON value, or an array of them (flattened one level); each value is
stored as its compact JSON text followed by ``,``, so a read is ``[`` + the stored bytes
without the last comma + ``]``. ``NaN`` and ``Infinity`` are not JSON and are refused."""

from __future__ import annotations

import json
from typing import Any

from ...errors import BadRequest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def stored(body: bytes, *, creating: bool = False) -> bytes:
    """The bytes to store for an append of ``body``; :class:`BadRequest` if it is not JSON or
    (an append, not a create) an empty array."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the body is not valid JSON", type="invalid_json") from exc
    values = value if isinstance(value, list) else [value]
    if not values:
        if creating:
            return b""
        raise BadRequest("an empty JSON array appends nothing", type="empty_json_array")
    return "".join(_dump(v) + "," for v in values).encode()


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def response(chunks: list[bytes]) -> bytes:
    """The JSON array of the values stored in ``chunks``."""
    return b"[" + b"".join(chunks).rstrip(b",") + b"]"
