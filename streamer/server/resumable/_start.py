"""The one call a view makes to start a resumable stream and answer with it from the start."""

from __future__ import annotations

import contextvars
from collections.abc import Generator, Iterable, Iterator
from typing import Any

import gevent
from flask import Flask, Response, current_app

from ...errors import Unavailable
from ...wire.framing import Encoder
from ..state import current_state
from ._readers import follow_response
from ._runner import _close, start_resumable
from .origin import OriginReader


def resumable_response(
    producer: Iterable[Any],
    *,
    fmt: str | None = None,
    headers: dict[str, str] | None = None,
    encoder: type[Encoder] | None = None,
    name: str | None = None,
    cancelled: Any = None,
) -> Response:
    """In a view: start ``producer`` as a resumable stream and answer with it from the start,
    with its id in ``X-Stream-Id``. A 503 if the store is down or full. ``name``: the
    store's name for it (:meth:`~streamer.store.StreamStore.name_stream`); ``cancelled``: see
    :func:`~streamer.server.resumable.follow`.

    >>> @app.post("/chat")
    ... def chat():
    ...     ...
    ...     if body.get("resumable"):
    ...         return resumable_response(chat_tokens(...))
    """
    origin = OriginReader()
    started = _start(producer, origin)
    if isinstance(started, Response):
        return started
    stream_id = started
    try:
        if name is not None:
            current_state().store.name_stream(name, stream_id)
        return follow_response(
            stream_id,
            fmt=fmt,
            headers=headers,
            encoder=encoder,
            origin=origin,
            cancelled=cancelled,
        )
    except BaseException:
        origin.detach()  # no reader after all: the producer must not wait for one
        raise


def start_detached(producer: Iterable[Any], *, name: str | None = None) -> str | Response:
    """In a view: start ``producer`` as a resumable stream that no reader follows yet (a job
    whose records are read later, from any worker); its id, or the owner policy's refusal
    to send as it is (401, 429). A 503 if the store is down or full. ``name``: the store's
    name for it (:meth:`~streamer.store.StreamStore.name_stream`).

    >>> started = start_detached(report_rows(...), name=job_id)
    """
    started = _start(producer, None)
    if isinstance(started, str) and name is not None:
        current_state().store.name_stream(name, started)
    return started


def _start(producer: Iterable[Any], origin: OriginReader | None) -> str | Response:
    """Claim, check the limits, wait for the first item, start: the stream id or a refusal."""
    state = current_state()
    config = state.config
    claim = state.owners.claim()  # who owns the stream (streamer.server.state.OwnerPolicy)
    if isinstance(claim, Response):
        _close(producer)
        return claim  # refused: a key is needed, or the key has no stream left
    release = claim.release
    registry = state.registry
    # Room for the producer and for this reader: refused before anything runs.
    if len(registry) + 2 > config.max_streams:
        release()
        _close(producer)
        raise Unavailable(
            "too many open streams on this server; retry shortly",
            type="too_many_streams",
            retry_after=1,
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        # The first item is awaited in a snapshot of the view's context; the rest run in an
        # app context of the detached producer's own (pushed and popped in its greenlet).
        opened = _opened(producer, config.heartbeat_s)
    except BaseException:
        release()
        raise
    try:
        stream_id = start_resumable(
            _in_app_context(app, opened),
            state.store,
            config,
            owner=claim.owner,
            limit=claim.limit,
            registry=registry,
            on_stop=release,
            origin=origin,
        )
    except BaseException:
        _close(opened)  # the wrapper never started, so it cannot close it
        raise
    return stream_id


def _in_app_context(app: Flask, producer: Iterable[Any]) -> Generator[Any, None, Any]:
    with app.app_context():
        try:
            return (yield from producer)  # the return value: extra fields for ``end``
        finally:
            _close(producer)


def _opened(producer: Iterable[Any], wait_s: float) -> Iterator[Any]:
    """Wait up to ``wait_s`` (one heartbeat, as a plain stream does) for the producer's first
    item, in a greenlet of its own: a failure before it is raised here, so the view answers
    with its real status (an upstream's 429 with ``Retry-After``) instead of 200 and an
    in-band error; a producer still silent then goes on detached, as before."""
    it = iter(producer)

    def pull() -> tuple[str, Any]:
        # Outcomes as values: a greenlet that raised would have gevent print a traceback.
        try:
            return "item", next(it)
        except StopIteration as stop:
            return "end", stop.value
        except Exception as exc:
            return "error", exc

    # In a snapshot of the view's contextvars: a new greenlet starts with none, and a
    # producer may read current_app (or the request) for its first item.
    first = gevent.Greenlet(pull)
    first.gr_context = contextvars.copy_context()
    first.start()
    first.join(wait_s)
    if first.ready() and first.value is not None and first.value[0] == "error":
        _close(it)
        raise first.value[1]
    return _chain(first, it)


def _chain(first: gevent.Greenlet, it: Iterator[Any]) -> Iterator[Any]:
    try:
        kind, value = first.get()
        if kind == "error":
            raise value
        if kind == "end":
            return value  # type: ignore[no-any-return]
        yield value
        return (yield from it)
    finally:
        # Closed while the first item is still awaited (cancelled): stop that wait before
        # closing the producer, which cannot be closed while it runs in the greenlet.
        first.kill(block=True, timeout=1.0)
        _close(it)
