"""Who reads a stream URL, for the add-ons that meter and authorise readers
(:mod:`streamer.security.auth`, :mod:`streamer.security.fairness`): whether a request is a
*live* read, which holds its connection open like a stream does; which stream a read token
must name to read a path; and how a live read ends when its reader's right to read does.

- A live read is a ``GET`` with ``live=long-poll`` or ``live=sse``: it holds a connection for
  up to ``STREAMER_DURABLE_LONG_POLL_S`` or ``STREAMER_DURABLE_SSE_MAX_S``, so it takes a
  per-key slot and a place of the client's open streams. A catch-up ``GET``, a ``HEAD`` and
  the writes are plain requests: they end as soon as the store answered.
- One stream, two faces, one name: the resumable stream ``<id>`` (``GET /streams/<id>``) is
  named ``<id>`` at ``<prefix>/resumable/<id>`` too, and a Durable Stream is named by its
  path, which for an id-shaped path is also the name of its ``GET /streams/<path>`` face. A
  read token of one face reads the other.
- A reader whose right ends (a read token's expiry) while it follows by SSE gets an in-band
  ``event: error`` (``token_expired``; Durable Streams clients ignore events they do not
  know), then the connection is cut without the chunked terminator, as the resume route cuts
  its readers (:mod:`streamer.engine.ending`). Its reconnect with the same token is a 401.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from typing import Any

from ...engine.disconnect import wait_closed
from ...engine.ending import CUT_GRACE_S, StreamAborted
from ...errors import NotFound
from ...store import valid_stream_id
from ..resumable import TOKEN_EXPIRED
from ..state import current_store
from . import sse
from .resumable import PREFIX

__all__ = ["LIVE_MODES", "cut", "expired_event", "is_live_read", "other_stream", "stream_name"]

LIVE_MODES = frozenset({"long-poll", "sse"})


def is_live_read(method: str, args: Mapping[str, str]) -> bool:
    """Whether a request of a stream URL holds its connection open (long-poll or SSE)."""
    return method == "GET" and args.get("live") in LIVE_MODES


def stream_name(path: str) -> str:
    """The name a read token of the stream at ``path`` (under the mount) carries.

    >>> stream_name("resumable/3q2-7wVx0123456789abc"), stream_name("chat/room-1")
    ('3q2-7wVx0123456789abc', 'chat/room-1')
    """
    return path[len(PREFIX) :] if path.startswith(PREFIX) else path


def other_stream(path: str) -> bool:
    """Whether the name of ``path`` also names a resumable stream of the stream store: an
    id-shaped Durable Stream path that a running stream has as its id. ``GET /streams/<name>``
    serves that one, so a token of that name is that stream's, not this one's. A store
    lookup; only asked for a token reader of an id-shaped path."""
    if path.startswith(PREFIX):
        return False
    try:
        current_store().owner(valid_stream_id(path))
    except NotFound:
        return False
    return True


def expired_event() -> bytes:
    """The in-band end of an SSE reader whose token expired."""
    body = {"type": TOKEN_EXPIRED.type, "message": TOKEN_EXPIRED.message}
    return sse.event("error", json.dumps(body, separators=(",", ":")))


def cut(sock: Any) -> None:
    """End a response after its last write without the chunked terminator: give the client
    up to ``CUT_GRACE_S`` to close, then shut the socket (the server's terminator write then
    fails, which gunicorn ignores). Without a socket (another WSGI server, a test client),
    :class:`StreamAborted` makes the server drop the connection."""
    if sock is None:
        raise StreamAborted("the reader's token expired")
    wait_closed(sock, CUT_GRACE_S)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
