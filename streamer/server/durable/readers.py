"""Who reads a stream URL, for the add-ons that meter and authorise readers
(:mod:`streamer.security.auth`, :mod:`streamer.security.fairness`): whether a request is a
*live* read, which holds its connection open like a stream does; which stream a read token
must name to read a path; and how an SSE read ends when its reader's right to read does.

- A live read is a ``GET`` with ``live=long-poll`` or ``live=sse``: it holds a connection for
  up to ``STREAMER_DURABLE_LONG_POLL_S`` or ``STREAMER_DURABLE_SSE_MAX_S``, so it takes a
  per-key slot and a place of the client's open streams. A catch-up ``GET``, a ``HEAD`` and
  the writes are plain requests: they end as soon as the store answered.
- One stream, two faces, one name: the resumable stream ``<id>`` (``GET /streams/<id>``) is
  named ``<id>`` at ``<prefix>/resumable/<id>`` too, and a Durable Stream is named by its
  path, which is also the name of its ``GET /streams/<path>`` face. A read token of one
  face reads the other.
- A reader whose right ends (a read token's expiry) while it waits or follows is not kept
  past it: a long-poll gets its ``204`` then, an SSE read an in-band ``event: error``
  (``token_expired``; Durable Streams clients ignore event types they do not know) and the
  end of its response. Its next request with that token is a 401.

  Unlike the resume route, whose failed readers are cut without the chunked terminator, the
  SSE response ends cleanly: here the end of a response never says the stream is complete
  (only ``streamClosed`` does; every SSE response ends after ``STREAMER_DURABLE_SSE_MAX_S``),
  and a cut body crashes ``@durable-streams/client`` 0.2.6 outright (an unhandled
  ``TypeError: terminated`` from undici, not passed to its ``onError``), where a clean end
  makes it reconnect from its offset with the parameters it has then (a renewed token).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ...errors import NotFound
from ...store import valid_stream_id
from ..state import current_store
from . import sse
from .resumable import PREFIX

__all__ = ["LIVE_MODES", "expired_event", "is_live_read", "other_stream", "stream_name"]

LIVE_MODES = frozenset({"long-poll", "sse"})
EXPIRED = "the stream token has expired; read on from the last offset with a new one"


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
    body = {"type": "token_expired", "message": EXPIRED}
    return sse.event("error", json.dumps(body, separators=(",", ":")))
