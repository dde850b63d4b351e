"""``GET``: catch-up reads, long-polls (PROTOCOL.md 5.6, 5.7) and SSE (5.8).

A response's ``Stream-Next-Offset`` is where the next read starts; ``Stream-Up-To-Date`` says
it holds everything there was; ``Stream-Closed`` says, in addition, that nothing more will
come (the EOF). The ETag names the range and the closure (``:c``), so a stream closed after
its last chunk was cached never answers ``304`` at its end.

A reader whose right to read ends (a read token's expiry,
:meth:`~streamer.server.state.OwnerPolicy.read_until`) waits no longer: a long-poll still
waiting then has its ``204``, an SSE read ends with an in-band ``event: error``
(:mod:`.readers`); the next request needs a valid token."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

from flask import Response, request

from ...engine.registry import StreamRegistry
from ...errors import DurableError, Unavailable
from ...store.durable import ZERO, DurableStore, Info, Message, is_json
from ..state import current_config, current_registry, current_state
from . import headers as h
from . import jsonmode, readers, sse
from .cursor import response_cursor
from .settings import DurableSettings


def read_response(
    store: DurableStore, settings: DurableSettings, path: str, info: Info
) -> Response:
    offsets = request.args.getlist("offset")
    if len(offsets) > 1:
        raise h.bad("invalid_offset", "send one offset")
    offset = offsets[0] if offsets else None
    if offset == "":
        raise h.bad("invalid_offset", "the offset is empty")
    if offset not in (None, "-1", "now"):
        h.offset(offset, "offset")
    live = request.args.get("live")
    if live is not None and live not in ("long-poll", "sse"):
        raise h.bad("invalid_live", "live is long-poll or sse")
    if live is not None and offset is None:
        raise h.bad("missing_offset", f"live={live} needs an offset")
    cursor = request.args.get("cursor")
    start = info.tail if offset == "now" else (offset if offset not in (None, "-1") else ZERO)
    json_mode = is_json(info.content_type)
    if live == "sse":
        return _sse(store, settings, path, info, start, cursor)
    if offset == "now" and live is None:
        got = store.read(path, info.tail)  # a read: it slides the TTL
        if got is None:
            raise DurableError(404, "not_found", "no such stream")
        info = got[0]
        response = Response(b"[]" if json_mode else b"", status=200)
        _state(response, info, info.tail, up_to_date=True, closed=info.closed)
        response.headers["Cache-Control"] = "no-store"
        return response
    got = store.read(path, start)
    if got is None:
        raise DurableError(404, "not_found", "no such stream")
    info, messages = got
    if live == "long-poll" and not messages and start >= info.tail:
        if not info.closed:
            until = current_state().owners.read_until()
            wait_s = settings.long_poll_s
            if until is not None:
                wait_s = min(wait_s, until - time.time())
            _long_poll_wait(store, path, start, max(0.0, wait_s))
            got = store.read(path, start)
            if got is None:
                raise DurableError(404, "not_found", "the stream was deleted")
            info, messages = got
        if not messages:
            response = Response(status=204)
            _state(response, info, start, up_to_date=True, closed=info.closed)
            del response.headers["Content-Type"]
            if not info.closed:
                response.headers["Stream-Cursor"] = response_cursor(cursor)
            return response
    messages, complete = _cap(messages, settings.max_read_bytes)
    next_offset = messages[-1].offset if messages else info.tail
    closed = info.closed and complete and next_offset == info.tail
    name = base64.b64encode(path.encode()).decode()
    etag = f'"{name}:{offset or "-1"}:{next_offset}{":c" if closed else ""}"'
    if request.headers.get("If-None-Match") == etag:
        response = Response(status=304, headers={"ETag": etag})
        del response.headers["Content-Type"]
        return response
    chunks = [m.data for m in messages]
    body = jsonmode.response(chunks) if json_mode else b"".join(chunks)
    response = Response(body, status=200)
    _state(response, info, next_offset, up_to_date=complete, closed=closed)
    response.headers["ETag"] = etag
    if live == "long-poll":
        response.headers["Stream-Cursor"] = response_cursor(cursor)
    return response


def _state(response: Response, info: Info, offset: str, *, up_to_date: bool, closed: bool) -> None:
    response.headers["Content-Type"] = info.content_type
    response.headers["Stream-Next-Offset"] = offset
    if up_to_date:
        response.headers["Stream-Up-To-Date"] = "true"
    if closed:
        response.headers["Stream-Closed"] = "true"


def _cap(messages: list[Message], limit: int) -> tuple[list[Message], bool]:
    """The first messages up to about ``limit`` bytes (one at least), and whether that is all."""
    total = 0
    for i, m in enumerate(messages):
        total += len(m.data)
        if total > limit and i > 0:
            return messages[:i], False
    return messages, True


class _Follower:
    """A live read (SSE, or a long-poll while it waits) in the registry of open streams: it
    counts toward ``STREAMER_MAX_STREAMS`` and a stopping worker ends it within a second (the
    client reconnects elsewhere from its offset) instead of waiting for it until the
    graceful timeout."""

    def __init__(self) -> None:
        self.stopping = False

    def shutdown(self) -> None:
        self.stopping = True

    def tick(self, now: float) -> None:
        pass


def _admitted() -> StreamRegistry:
    """The worker's registry of open streams, if it has room for one more live read; else
    the 503 that a full or stopping worker answers."""
    registry = current_registry()
    if registry.shutting_down:
        raise Unavailable("the server is restarting; retry", type="shutdown", retry_after=1)
    if len(registry) >= current_config().max_streams:
        raise Unavailable(
            "too many open streams on this server; retry shortly",
            type="too_many_streams",
            retry_after=1,
        )
    return registry


def _long_poll_wait(store: DurableStore, path: str, offset: str, wait_s: float) -> None:
    """Wait up to ``wait_s`` for a change after ``offset``, as one of the worker's open
    streams: in steps of at most a second, so that a stopping worker answers its long-polls
    (their ``204``) within one. A step that ends early was ended by a change."""
    registry = _admitted()
    follower = _Follower()
    registry.add(follower)
    try:
        deadline = time.monotonic() + wait_s
        while not follower.stopping and not registry.shutting_down:
            began = time.monotonic()
            step = min(deadline - began, 1.0)
            if step <= 0:
                return
            store.wait(path, offset, step)
            if time.monotonic() - began < step - 0.005:
                return  # woken (else a change at the step's end: the next wait sees it)
    finally:
        registry.discard(follower)


def _sse(
    store: DurableStore,
    settings: DurableSettings,
    path: str,
    info: Info,
    start: str,
    cursor: str | None,
) -> Response:
    ct = info.content_type.split(";")[0].strip().lower()
    text = ct.startswith("text/") or ct == "application/json"
    json_mode = is_json(ct)

    def payload(m: Message) -> str:
        if json_mode:
            return jsonmode.response([m.data]).decode("utf-8", "replace")
        if text:
            return m.data.decode("utf-8", "replace")
        return base64.b64encode(m.data).decode()

    registry = _admitted()
    follower = _Follower()
    until = current_state().owners.read_until()  # unix seconds: a read token's expiry

    def events() -> Iterator[bytes]:
        current = start
        began = time.monotonic()
        ends = began + settings.sse_max_s
        said = None  # when the last control event went out
        registry.add(follower)
        try:
            while not follower.stopping and not registry.shutting_down:
                if until is not None and time.time() >= until:
                    yield readers.expired_event()
                    return
                got = store.read(path, current)
                if got is None or got[0].soft_deleted:
                    return  # deleted: the reader's reconnect gets the 404 or 410
                now, messages = got
                messages, complete = _cap(messages, settings.max_read_bytes)
                out: list[bytes] = []  # one write per read: data and control arrive together
                closed = False
                for i, m in enumerate(messages):  # each data event with its control event
                    last = i == len(messages) - 1
                    closed = last and complete and now.closed and m.offset == now.tail
                    out.append(sse.event("data", payload(m)))
                    out.append(
                        sse.control(
                            m.offset,
                            response_cursor(cursor),
                            up_to_date=last and complete,
                            closed=closed,
                        )
                    )
                    current = m.offset
                clock = time.monotonic()
                if not messages:
                    current = max(current, now.tail)
                    closed = now.closed and current == now.tail
                    if closed or said is None or clock - said >= settings.long_poll_s:
                        control = sse.control(
                            current, response_cursor(cursor), up_to_date=True, closed=closed
                        )
                        out.append(control)
                if out:
                    said = clock
                    yield b"".join(out)
                if closed:
                    return
                if not complete:
                    continue
                left = ends - clock
                if left <= 0:
                    return
                # Wait in steps of at most a second, so a stopping worker ends it soon; an idle
                # reader hears a control event every long_poll_s (a keep-alive).
                due = settings.long_poll_s - (clock - said) if said is not None else 0.0
                if until is not None:
                    due = min(due, until - time.time())
                store.wait(path, current, max(0.0, min(left, due, 1.0)))
        finally:
            registry.discard(follower)

    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    if not text:
        headers["Stream-SSE-Data-Encoding"] = "base64"
    # direct_passthrough: the body is a stream (an auth add-on holds its slot until it ends).
    return Response(events(), status=200, headers=headers, direct_passthrough=True)
