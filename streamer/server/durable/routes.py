"""The stream URL's five methods (PROTOCOL.md 5): ``PUT`` creates (or forks), ``POST``
appends or closes, ``HEAD`` tells the metadata, ``GET`` reads (catch-up, ``live=long-poll``,
``live=sse``), ``DELETE`` deletes. A refusal is a :class:`~.headers.DurableError`: its status,
the protocol's headers, and ``{"error": {"type", "message"}}``. With client keys, the
responses to a create, a ``HEAD`` and a read carry ``X-Stream-Token``, a read token of the
stream (the owner policy's :meth:`~streamer.server.state.OwnerPolicy.read_headers`)."""

from __future__ import annotations

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from ...errors import DurableError, StreamerError
from ...store.durable import (
    Appended,
    AppendSpec,
    CreateError,
    CreateSpec,
    DurableStore,
    Info,
    is_json,
)
from ..jsonerror import json_error
from ..state import current_state, current_store
from . import headers as h
from . import jsonmode
from .readers import stream_name
from .reads import read_response
from .resumable import PREFIX, ResumableFace, read_only
from .settings import DurableSettings, current

_CREATE_ERRORS = {
    "conflict": 409,
    "source_missing": 404,
    "source_gone": 409,
    "type_mismatch": 409,
    "bad_offset": 400,
    "bad_sub_offset": 400,
}


BLUEPRINT = "streamer_durable"
ENDPOINT = BLUEPRINT + ".durable_stream"  # for an app's auth hooks: every stream URL
MAX_PATH = 1024  # characters of a stream's path


def blueprint(prefix: str) -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix=prefix)
    bp.add_url_rule(
        "/<path:path>",
        "durable_stream",
        stream_view,
        methods=["GET", "HEAD", "PUT", "POST", "DELETE"],
        provide_automatic_options=True,
    )
    bp.after_request(security_headers)
    bp.register_error_handler(StreamerError, error)
    bp.register_error_handler(HTTPException, http_error)
    return bp


def stream_view(path: str) -> Response:
    settings = current()
    if path.split("/", 1)[0] == "__ds":
        raise DurableError(404, "not_found", "the __ds control APIs are not served here")
    if len(path) > MAX_PATH:
        raise h.bad("invalid_path", f"a stream path is at most {MAX_PATH} characters")
    store: DurableStore = settings.store
    if path.startswith(PREFIX):  # one stream, two faces: a resumable stream, read-only
        if request.method not in ("GET", "HEAD"):
            raise read_only()
        store = ResumableFace(current_store())
    info = store.info(path)
    if info is not None and not _may_use(info):
        # Another key's stream: as if there were none, but its path is taken.
        if request.method == "PUT":
            raise DurableError(409, "conflict", "the path is taken by another key's stream")
        raise DurableError(404, "not_found", "no such stream")
    if request.method == "POST":
        return append(store, path, info)
    if request.method == "DELETE":
        return delete(store, path)
    if request.method == "PUT":
        response = create(store, settings, path)
    elif info is None:
        raise DurableError(404, "not_found", "no such stream")
    elif info.soft_deleted:
        raise DurableError(410, "gone", "the stream was deleted")
    elif request.method == "HEAD":
        response = head(path, info)
    else:
        response = read_response(store, settings, path, info)
    # With client keys, the owner's reads and creates carry a read token of the stream
    # (X-Stream-Token), as the resume route's responses do: for a reader without the key.
    response.headers.update(current_state().owners.read_headers(stream_name(path)))
    return response


def _may_use(info: Info) -> bool:
    """With client keys, a stream is its creator's key's only (PROTOCOL.md 12.2)."""
    return current_state().owners.may_read(lambda: info.owner)


def create(store: DurableStore, settings: DurableSettings, path: str) -> Response:
    hdrs = request.headers
    forked_from = hdrs.get("Stream-Forked-From")
    source = settings.stream_path(forked_from) if forked_from is not None else None
    ttl = h.ttl(hdrs)
    expiry = h.expires_at(hdrs)
    if ttl is not None and expiry is not None:
        raise h.bad("invalid_expiry", "send Stream-TTL or Stream-Expires-At, not both")
    fork_offset = hdrs.get("Stream-Fork-Offset")
    if fork_offset is not None:
        fork_offset = h.offset(fork_offset, "Stream-Fork-Offset")
    sub = h.fork_sub(hdrs, source is not None)
    content_type = h.content_type(hdrs)
    if content_type is None and source is None:
        content_type = "application/octet-stream"
    data = request.get_data()
    json_type = content_type
    if source is not None:
        source_info = store.info(source)
        if source_info is not None and not _may_use(source_info):
            raise DurableError(404, "source_missing", "the stream to fork does not exist")
        if content_type is None and source_info is not None:
            json_type = source_info.content_type
    if data and is_json(json_type):
        data = jsonmode.stored(data, creating=True)
    spec = CreateSpec(
        content_type,
        ttl,
        expiry[0] if expiry else None,
        expiry[1] if expiry else None,
        h.closed_flag(hdrs),
        source,
        fork_offset,
        sub,
        data,
        current_state().owners.owner(),
    )
    try:
        created = store.create(path, spec)
    except CreateError as exc:
        raise DurableError(_CREATE_ERRORS.get(exc.kind, 400), exc.kind, exc.message) from exc
    info = created.info
    response = Response(status=201 if created.new else 200)
    response.headers["Content-Type"] = info.content_type
    response.headers["Stream-Next-Offset"] = info.tail
    if created.new:
        response.headers["Location"] = request.base_url
    if info.closed:
        response.headers["Stream-Closed"] = "true"
    return response


def append(store: DurableStore, path: str, info: Info | None) -> Response:
    """``info``: the stream's, as the view found it (its JSON mode; the store's append
    checks again, atomically, what matters for the write)."""
    hdrs = request.headers
    producer = h.producer(hdrs)
    close = h.closed_flag(hdrs)
    data = request.get_data()
    content_type = h.content_type(hdrs)
    if not data and not close:
        raise h.bad("empty_body", "an append needs a body (or Stream-Closed: true)")
    if data and content_type is None:
        raise h.bad("missing_content_type", "an append needs a Content-Type")
    if (
        data
        and info is not None
        and not info.closed
        and is_json(info.content_type)
        and is_json(content_type)
    ):
        data = jsonmode.stored(data)
    spec = AppendSpec(data, content_type, hdrs.get("Stream-Seq"), producer, close)
    done = store.append(path, spec)
    out: dict[str, str] = {}
    if done.tail:
        out["Stream-Next-Offset"] = done.tail
    if done.closed:
        out["Stream-Closed"] = "true"
    if done.status == "ok":
        if producer is not None:
            out["Producer-Epoch"] = str(producer.epoch)
            out["Producer-Seq"] = str(producer.seq)
        status = 200 if producer is not None and data else 204
        return empty(status, out)
    if done.status == "duplicate":
        assert producer is not None
        out["Producer-Epoch"] = str(producer.epoch)
        out["Producer-Seq"] = str(done.last_seq)
        return empty(204, out)
    raise _refusal(done.status, done, out)


def _refusal(status: str, done: Appended, out: dict[str, str]) -> DurableError:
    if status == "not_found":
        return DurableError(404, "not_found", "no such stream")
    if status == "gone":
        return DurableError(410, "gone", "the stream was deleted")
    if status == "closed":
        return DurableError(409, "stream_closed", "the stream is closed", out)
    if status == "type_mismatch":
        return DurableError(409, "content_type_mismatch", "Content-Type differs from the stream's")
    if status == "seq_conflict":
        return DurableError(409, "sequence_conflict", "Stream-Seq must grow with each append")
    if status == "stale_epoch":
        return DurableError(
            403,
            "stale_producer_epoch",
            "a newer epoch of this producer has written",
            {"Producer-Epoch": str(done.epoch)},
        )
    if status == "bad_epoch_seq":
        return h.bad("invalid_producer", "a new producer epoch must start at Producer-Seq 0")
    if status == "seq_gap":
        return DurableError(
            409,
            "producer_sequence_gap",
            "Producer-Seq skipped a number",
            {
                "Producer-Expected-Seq": str(done.expected),
                "Producer-Received-Seq": str(done.received),
            },
        )
    return DurableError(500, "internal_error", "unexpected append outcome")


def head(path: str, info: Info) -> Response:
    response = Response(status=200)
    response.headers["Content-Type"] = info.content_type
    response.headers["Stream-Next-Offset"] = info.tail
    response.headers["Cache-Control"] = "no-store"
    if info.closed:
        response.headers["Stream-Closed"] = "true"
    if info.ttl_s is not None:
        response.headers["Stream-TTL"] = str(info.ttl_s)
    if info.expires_at is not None:
        response.headers["Stream-Expires-At"] = info.expires_at
    return response


def delete(store: DurableStore, path: str) -> Response:
    outcome = store.delete(path)
    if outcome == "not_found":
        raise DurableError(404, "not_found", "no such stream")
    if outcome == "gone":
        raise DurableError(410, "gone", "the stream was deleted")
    return empty(204)


class _Empty(Response):
    default_mimetype = None  # no Content-Type at all: not set and then deleted


def empty(status: int, headers: dict[str, str] | None = None) -> Response:
    """A response without a body, so without Flask's default ``text/html`` type."""
    return _Empty(status=status, headers=headers)


def security_headers(response: Response) -> Response:
    """PROTOCOL.md 12.7, on every response of the stream URLs, errors included."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def error(exc: StreamerError) -> Response:
    response = json_error(exc.status, exc.type, exc.message, exc.retry_after)
    for name, value in getattr(exc, "headers", {}).items():
        response.headers[name] = value
    return response


def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    name = (exc.name or "error").lower().replace(" ", "_")
    return json_error(code, name, exc.description or name)
