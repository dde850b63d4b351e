"""The protocol's request headers, checked: a bad one is a :class:`DurableError` (400) that
names it, before anything is stored.

``Stream-Closed`` counts only as ``true`` (any case); other values are as if absent
(PROTOCOL.md 4.1). Integers are plain decimals (no sign, no leading zero, at most 2^53-1)."""

from __future__ import annotations

import re
from datetime import datetime

from werkzeug.datastructures import Headers

from ...errors import DurableError
from ...quote import echo
from ...store.durable import Producer
from ...store.durable._base import OFFSET

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_DIGITS = re.compile(r"[0-9]+")
_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")
MAX_SAFE = 2**53 - 1


def bad(type: str, message: str) -> DurableError:
    return DurableError(400, type, message)


def closed_flag(headers: Headers) -> bool:
    return (headers.get("Stream-Closed") or "").strip().lower() == "true"


def content_type(headers: Headers) -> str | None:
    """The request's media type, or None when absent or not of the ``type/subtype`` shape."""
    raw = (headers.get("Content-Type") or "").strip()
    return raw if _CONTENT_TYPE.match(raw) else None


def ttl(headers: Headers) -> int | None:
    raw = headers.get("Stream-TTL")
    if raw is None:
        return None
    if not _DECIMAL.fullmatch(raw.strip()) or int(raw) > MAX_SAFE:
        raise bad("invalid_ttl", f"Stream-TTL must be whole seconds, got {echo(raw)}")
    return int(raw)


def expires_at(headers: Headers) -> tuple[str, float] | None:
    raw = headers.get("Stream-Expires-At")
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError as exc:
        raise bad(
            "invalid_expires_at", f"Stream-Expires-At must be RFC 3339, got {echo(raw)}"
        ) from exc
    if when.tzinfo is None:
        raise bad("invalid_expires_at", "Stream-Expires-At needs a time zone (Z or +hh:mm)")
    return raw, when.timestamp()


def offset(raw: str, name: str) -> str:
    if not OFFSET.fullmatch(raw):
        raise bad("invalid_offset", f"{name} is not an offset of this server: {echo(raw)}")
    return raw


def fork_sub(headers: Headers, forked: bool) -> int:
    raw = headers.get("Stream-Fork-Sub-Offset")
    if raw is None:
        return 0
    if not forked:
        raise bad("invalid_fork", "Stream-Fork-Sub-Offset needs Stream-Forked-From")
    if not _DECIMAL.fullmatch(raw.strip()):
        raise bad("invalid_fork_sub_offset", f"Stream-Fork-Sub-Offset: {echo(raw)}")
    return int(raw)


def producer(headers: Headers) -> Producer | None:
    """The idempotent producer's three headers, all or none (PROTOCOL.md 5.2.1)."""
    pid = headers.get("Producer-Id")
    epoch = headers.get("Producer-Epoch")
    seq = headers.get("Producer-Seq")
    if pid is None and epoch is None and seq is None:
        return None
    if pid is None or epoch is None or seq is None:
        raise bad(
            "invalid_producer",
            "Producer-Id, Producer-Epoch and Producer-Seq must be sent together",
        )
    if not pid:
        raise bad("invalid_producer", "Producer-Id must not be empty")
    return Producer(pid, _count(epoch, "Producer-Epoch"), _count(seq, "Producer-Seq"))


def _count(raw: str, name: str) -> int:
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_SAFE:
        raise bad("invalid_producer", f"{name} must be an integer from 0 to 2^53-1")
    return int(raw)
