"""The resume routes the extension mounts: ``GET`` and ``DELETE <prefix>/<id>``
(``STREAMER_STREAMS_PREFIX``, default ``/streams``), endpoints ``streamer.get_stream`` and
``streamer.delete_stream``.

An SSE resume at the last record of a finished stream is a 204: ``EventSource`` reconnects
after every body that ends, and only a 204 (or an error status) makes it stop (WHATWG
9.2.3); a 200 would replay the ``end`` forever. Only SSE: ndjson and text readers (streamer's
client) still get the stored ``end`` or ``error``, which says how the stream ended to a
reader that was cut before it."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ...errors import BadRequest
from ...quote import echo
from ...store import StreamStore, valid_stream_id
from ...wire.negotiate import choose_request_format
from ...wire.records import Data
from ..state import current_store
from . import check_owner, follow_response


def blueprint(prefix: str) -> Blueprint:
    """A new blueprint per app (a blueprint's routes cannot change once registered)."""
    bp = Blueprint("streamer", __name__, url_prefix=prefix)
    bp.add_url_rule("/<stream_id>", "get_stream", get_stream, methods=["GET"])
    bp.add_url_rule("/<stream_id>", "delete_stream", delete_stream, methods=["DELETE"])
    return bp


def get_stream(stream_id: str) -> Response:
    """Replay and follow a resumable stream after ``Last-Event-ID`` (header or
    ``?last_event_id=``), in the format the request asks for."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    after_id = last_event_id(raw)
    stream_id = check_owner(valid_stream_id(stream_id))
    sse = choose_request_format(request) == "sse"
    if after_id and sse and _nothing_after(current_store(), stream_id, after_id):
        return Response(status=204)
    return follow_response(stream_id, after_id)


def _nothing_after(store: StreamStore, stream_id: str, after_id: int) -> bool:
    """Whether the stream has finished and ``after_id`` is its last data record: the next
    record is its ``end`` or ``error``. One read that does not wait (a resume's only extra)."""
    records = store.read(stream_id, after_id, 0)
    return bool(records) and not isinstance(records[0], Data)


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
