"""The resume routes the extension mounts: ``GET`` and ``DELETE <prefix>/<id>``
(``STREAMER_STREAMS_PREFIX``, default ``/streams``), endpoints ``streamer.get_stream`` and
``streamer.delete_stream``.

An SSE resume from the end of a finished stream is a 204: ``EventSource`` reconnects after
every body that ends, and only a 204 (or an error status) makes it stop (WHATWG 9.2.3); a 200
would replay the ``end`` forever. The end names its place: its ``id:`` is one past the last
data record (:meth:`~streamer.wire.framing.Encoder.terminal_id`), so a reader that saw it
asks for that id, while one cut before it still names its last record and is sent the end.
Only SSE: ndjson and text carry no id on the end, and their readers (streamer's client)
never resume after it.

An SSE resume that finds the store unavailable (a Redis failover, a restart) is not a 503:
``EventSource`` fails for good on any status but 200 (WHATWG 9.2.3: it reconnects only after
a body that ends or a network error), and a page would have to notice and open a new one.
It is a 200 whose body is a ``retry:`` field (``STREAMER_RETRY_MS``) and a comment that
names the cause, with no blank line, so no client dispatches an event (httpx-sse and
``@microsoft/fetch-event-source`` would dispatch an empty one for a ``retry:`` block): the
browser, and streamer's client, reconnect after the hint with the same ``Last-Event-ID``
until the store answers. The other formats keep the 503 and its ``Retry-After``: their
readers retry it."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from ...errors import BadRequest, NotFound, StoreUnavailable
from ...quote import echo
from ...store import StreamStore, valid_stream_id
from ...wire.framing import SSE
from ...wire.negotiate import choose_request_format
from ...wire.records import Data
from ..response import STREAM_HEADERS
from ..state import current_config, current_state, current_store
from . import check_owner, follow_response


def blueprint(prefix: str) -> Blueprint:
    """A new blueprint per app (a blueprint's routes cannot change once registered)."""
    bp = Blueprint("streamer", __name__, url_prefix=prefix)
    bp.add_url_rule("/<stream_id>", "get_stream", get_stream, methods=["GET"])
    # A Durable Stream's path (rooms/1/chat) names its streamer face too. One segment stays
    # the rule above: any character but "/" (a path's "." stops at a newline), and the route
    # the access log names.
    bp.add_url_rule("/<path:stream_id>", "get_stream", get_stream, methods=["GET"])
    bp.add_url_rule("/<stream_id>", "delete_stream", delete_stream, methods=["DELETE"])
    return bp


def get_stream(stream_id: str) -> Response:
    """Replay and follow a resumable stream after ``Last-Event-ID`` (header or
    ``?last_event_id=``), in the format the request asks for."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    after_id = last_event_id(raw)
    sse = choose_request_format(request) == "sse"
    try:
        store = store_of(stream_id)
        stream_id = check_owner(stream_id, store)
        if after_id and sse and _saw_the_end(store, stream_id, after_id):
            return Response(status=204)
        return follow_response(stream_id, after_id, store=store)
    except StoreUnavailable as exc:
        if not sse:
            raise
        return reconnect_later(exc)


def reconnect_later(exc: StoreUnavailable) -> Response:
    """An SSE body that tells its reader to reconnect after ``STREAMER_RETRY_MS`` and names
    why, dispatching no event (see the module's docstring)."""
    retry_ms = current_config().retry_ms
    body = b"retry: %d\n: %s: %s\n" % (retry_ms, exc.type.encode(), exc.message.encode())
    return Response(body, status=200, headers=STREAM_HEADERS, content_type=SSE.media_type)


def store_of(stream_id: str) -> StreamStore:
    """The store that holds ``stream_id``: the stream store, else the first of the app's
    other stores that knows it (a Durable Stream's face), else the stream store (its 404).
    A name that is not id-shaped is only a Durable Stream's path (:func:`face_path`)."""
    state = current_state()
    try:
        valid_stream_id(stream_id)
    except NotFound:
        if not face_path(stream_id):
            raise NotFound("no such stream (unknown or expired)") from None
        candidates, fallback = state.other_stores, None
    else:
        if not state.other_stores:
            return state.store
        candidates, fallback = [state.store, *state.other_stores], state.store
    for store in candidates:
        try:
            store.owner(stream_id)
            return store
        except NotFound:
            continue
    if fallback is None:
        raise NotFound("no such stream (unknown or expired)")
    return fallback


#: A Durable Stream path that is not id-shaped and has a streamer face: segments of
#: URL-safe characters (so ``X-Stream-Id`` and a client's ``/streams/<id>`` carry it as it
#: is), none of them ``.`` or ``..``, at most as long as a Durable Stream's path.
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
FACE_PATH_MAX = 1024


def face_path(path: str) -> bool:
    """Whether ``path`` may name a Durable Stream's streamer face.

    >>> face_path("chat/room-1"), face_path("a/../b"), face_path("a//b"), face_path("é")
    (True, False, False, False)
    """
    if len(path) > FACE_PATH_MAX:
        return False
    return all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in path.split("/"))


def _saw_the_end(store: StreamStore, stream_id: str, after_id: int) -> bool:
    """Whether ``after_id`` is the id of the stream's ``end`` or ``error`` (one past its last
    data record): the reader has seen how it ended. Reads that do not wait."""
    records = store.read(stream_id, after_id - 1, 0)
    if not records or isinstance(records[0], Data):
        return False
    # A stream the store lost answers every id with its store_lost, which stands for the
    # records it lost: it is at after_id only where a resume from after_id is past the end.
    try:
        store.read(stream_id, after_id, 0)
    except BadRequest:
        return True
    return False


def delete_stream(stream_id: str) -> Response:
    """Cancel a resumable stream: 202 if it was running, 204 if it had already finished."""
    stream_id = check_owner(valid_stream_id(stream_id))
    if not current_store().cancel(stream_id):
        return Response(status=204)  # already finished: nothing to cancel
    response = jsonify({"id": stream_id, "status": "cancelled"})
    response.status_code = 202
    return response


def last_event_id(raw: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(
            f"Last-Event-ID must be a whole number, got {echo(raw)}", type="invalid_last_event_id"
        )
    return int(raw)
