"""Endpoints for the real-server tests, mounted only when ``STREAMER_TESTING=1``.

``/_test/stream`` is a producer whose behaviour the test chooses (fail before the first
item, fail after N items, idle for a while), tagged so that ``/_test/events`` can show the
test, over HTTP, when the producer started and when its ``finally`` ran: the side channel
that proves a disconnect stopped the work. ``resumable=1`` runs it as a resumable stream (the
side channel then shows when a cancel stopped it). ``name=row`` yields each item as a named
event (:class:`~streamer.wire.records.Event`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gevent
from flask import Blueprint, Response, jsonify, request

from ..errors import StreamerError, UpstreamError
from ..server.response import stream_for_request
from ..wire.records import Event
from .params import bool_param, float_param, int_param, str_param

bp = Blueprint("testing", __name__, url_prefix="/_test")
_events: list[dict[str, Any]] = []


def _record(tag: str, event: str) -> None:
    _events.append({"tag": tag, "event": event, "t": time.time()})
    del _events[:-10_000]


def scripted(
    tag: str,
    count: int,
    interval: float,
    fail_before: bool,
    fail_after: int,
    idle_first: float,
    idle_after: float,
    error: str,
    name: str = "",
) -> Iterator[Any]:
    _record(tag, "start")
    try:
        if idle_first:
            gevent.sleep(idle_first)
        if fail_before:
            raise _error(error)
        for i in range(1, count + 1):
            if i > 1 and interval:
                gevent.sleep(interval)
            yield Event(f"item {i}\n", name) if name else f"item {i}\n"
            if fail_after and i == fail_after:
                raise _error(error)
        if idle_after:
            gevent.sleep(idle_after)
        _record(tag, "done")
    finally:
        _record(tag, "finally")


def _error(kind: str) -> Exception:
    if kind == "upstream":
        return UpstreamError("the upstream failed", type="upstream_error")
    if kind == "streamer":
        return StreamerError("the producer failed on purpose", type="test_failure", status=503)
    return RuntimeError("boom: secret-internal-detail")  # must never reach a client


@bp.get("/stream")
def stream() -> Response:
    args = request.args
    producer = scripted(
        tag=str_param(args, "tag", "untagged"),
        count=int_param(args, "count", 5, 0, 100_000),
        interval=float_param(args, "interval", 0.0, 0.0, 60.0),
        fail_before=bool(int_param(args, "fail_before", 0, 0, 1)),
        fail_after=int_param(args, "fail_after", 0, 0, 100_000),
        idle_first=float_param(args, "idle_first", 0.0, 0.0, 600.0),
        idle_after=float_param(args, "idle_after", 0.0, 0.0, 600.0),
        error=str_param(args, "error", "runtime"),
        name=str_param(args, "name", ""),
    )
    if bool_param(args, "resumable"):
        from ..server.resumable import resumable_response

        return resumable_response(producer)
    return stream_for_request(producer)


@bp.get("/events")
def events() -> Response:
    tag = request.args.get("tag")
    return jsonify([e for e in _events if tag is None or e["tag"] == tag])


@bp.get("/loop")
def loop() -> Response:
    """Which of gevent's event loops this worker runs (``GEVENT_LOOP``: libev or libuv), so
    the libuv CI run can prove it really ran on libuv."""
    kind = type(gevent.get_hub().loop)
    return jsonify({"loop": f"{kind.__module__}.{kind.__qualname__}"})
