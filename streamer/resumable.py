"""Resumable streams: a producer detached from the request, written to the stream store, and
readers that replay and follow it from any worker.

- :func:`start_resumable` runs a producer in its own greenlet, appending ``Data`` records
  (ids 1, 2, 3, ...) and then ``End`` or ``Error``. It runs to the end even if every reader
  leaves, bounded by ``max_stream_s``; a second greenlet renews its lease every ``lease_s/3``
  and kills it at once when the stream is cancelled (from any worker or instance).
- :func:`follow` is a reader: the records after ``after_id``, then live ones, then the
  terminal record. Fed to :func:`~streamer.response.stream_for_request` it serves a resume
  in any format. A reader that finds the producer's lease expired finishes the stream with
  ``error: producer_lost`` (the producer's worker died), so no reader ever waits forever.
- :func:`resumable_response` is the one line a view needs: start, and answer with a reader
  from id 0 and the ``X-Stream-Id`` header.

Unlike a plain stream (docs/design.md, rule 5), a reader that disconnects does not stop the work:
that is the point. ``DELETE /streams/<id>`` does. The detached producer runs in an app
context of its own (``current_app`` works, ``g`` is its own, ``teardown_appcontext`` runs when
it ends): its request is long gone.

A running producer is a metered resource (issue 18): it counts toward the worker's
``max_streams`` (the registry's ``detached``) and, with client keys, toward its owner's
``max_streams_per_key`` (a slot in this worker, and the store's count across workers). With
keys configured, starting one needs a key, and a stream belongs to the key that started it:
:func:`check_owner` answers another key with the same 404 as an unknown stream.

A store failure is never a stream's outcome: a producer whose store stays away longer than
the store's retries stops without writing a terminal record (readers then see
``producer_lost``); a reader that meets one gets ``store_unavailable`` in-band, not stored,
and can resume with ``Last-Event-ID`` later.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import gevent
from flask import Flask, Response, current_app, request
from gevent.pool import Group

from .auth import key_of_request, take_producer_slot, unauthorized
from .config import Config
from .context import current_config, current_registry, current_store
from .errors import NotFound, StoreUnavailable, StreamerError, StreamTimeout, Unavailable
from .framing import Encoder
from .origin import OriginReader
from .producer import DATA, END, ERROR, PING, kind_of, returned
from .records import Data, End, Error
from .registry import StreamRegistry
from .response import stream_for_request
from .store import MAX_BLOCK_S, Entry, StreamStore, new_stream_id
from .tokens import TOKEN_HEADER, signer_for

log = logging.getLogger("streamer")

STORE_EXTENSION = "streamer.store"

# This process's running producers, so that a worker's graceful shutdown can let them finish
# (wait_for_producers) while their readers reconnect to another instance.
_producers = Group()


def start_resumable(producer: Iterable[Any], store: StreamStore, config: Config, *,
                    owner: str | None = None, registry: StreamRegistry | None = None,
                    on_stop: Callable[[], None] | None = None,
                    origin: OriginReader | None = None) -> str:
    """Create a stream, start ``producer`` writing to it in the background, return its id.

    ``owner`` (a key id) is recorded with the stream and limited to ``max_streams_per_key``
    running streams in the store; with ``registry`` the producer counts toward the worker's
    ``max_streams`` while it runs; ``on_stop`` runs when it stops (or if it never starts).
    With ``origin`` (the reader that started it, in this worker) the producer never runs so
    far ahead of that reader that the store's bound drops a record it has not read
    (:mod:`streamer.origin`).

    Raises ``StoreUnavailable`` / ``Unavailable`` (503) or a 429 if the store cannot take it;
    the producer is then closed without having run.

    >>> sid = start_resumable(data_chunks(3, 0.1), store, config)
    """
    stream_id = new_stream_id()
    try:
        store.create(stream_id, owner, config.max_streams_per_key if owner else None)
    except BaseException:
        _close(producer)
        if on_stop is not None:
            on_stop()
        raise
    if registry is not None:
        registry.detached += 1
    _producers.spawn(_run, producer, store, stream_id, config, registry, on_stop, origin)
    return stream_id


def check_owner(stream_id: str) -> str:
    """In a view: ``stream_id`` if the caller may read or cancel it; with client keys, a
    stream started with another key is a 404 with the same body as an unknown one."""
    if current_config().api_keys and current_store().owner(stream_id) != key_of_request():
        raise NotFound("no such stream (unknown or expired)")
    return stream_id


def wait_for_producers(timeout: float) -> int:
    """Wait up to ``timeout`` s for this process's resumable producers to finish; how many
    are still running. For a worker's graceful shutdown: its readers were told to reconnect
    elsewhere, and the records they are waiting for keep coming (to the store) meanwhile."""
    _producers.join(timeout=max(0.0, timeout))
    return len(_producers)


def follow(store: StreamStore, stream_id: str, after_id: int = 0, *,
           block_s: float = 1.0, origin: OriginReader | None = None) -> Iterator[Entry]:
    """The stream's records after ``after_id``, live ones as they come, then its ``End`` or
    ``Error``. Raises ``NotFound`` at once for an unknown or expired stream.

    Each empty wait of ``block_s`` also checks the producer's lease (:meth:`reap`). With
    ``origin``, this reader is the one that started the stream: it tells the producer how
    far it has read, and when it stops."""
    last = after_id
    try:
        while True:
            records = store.read(stream_id, last, block_s)
            if not records:
                store.reap(stream_id)
                continue
            for record in records:
                yield record
                if not isinstance(record, Data):
                    return
                last = record.id
            if origin is not None:
                origin.advance(last)
    finally:
        if origin is not None:
            origin.detach()


def follow_response(stream_id: str, after_id: int = 0, *, fmt: str | None = None,
                    headers: dict[str, str] | None = None,
                    encoder: type[Encoder] | None = None,
                    origin: OriginReader | None = None) -> Response:
    """In a view: serve ``stream_id`` from ``after_id`` in the format the request asks for
    (or ``fmt``, or with ``encoder``). A 404 if it is unknown or expired (raised before the
    first byte). ``origin``: this reader started the stream (backpressure, streamer.origin)."""
    config = current_config()
    reader = follow(current_store(), stream_id, after_id, block_s=_block_s(config),
                    origin=origin)
    return stream_for_request(reader, first_id=after_id + 1, fmt=fmt, encoder=encoder,
                              headers={**(headers or {}), "X-Stream-Id": stream_id,
                                       **_token_header(stream_id)})


def _token_header(stream_id: str) -> dict[str, str]:
    """With client keys, a read token for ``EventSource`` (:mod:`streamer.tokens`), for the
    key this request used. A reader that came with a token gets none: tokens do not renew
    themselves."""
    config = current_config()
    if not config.api_keys or "token" in request.args:
        return {}
    return {TOKEN_HEADER: signer_for(config).issue(stream_id, key_of_request())}


def resumable_response(producer: Iterable[Any], *, fmt: str | None = None,
                       headers: dict[str, str] | None = None,
                       encoder: type[Encoder] | None = None) -> Response:
    """In a view: start ``producer`` as a resumable stream and answer with it from the start,
    with its id in ``X-Stream-Id``. A 503 if the store is down or full.

    >>> @app.post("/chat")
    ... def chat():
    ...     ...
    ...     if body.get("resumable"):
    ...         return resumable_response(chat_tokens(...))
    """
    config = current_config()
    owner = key_of_request()
    if config.api_keys and owner is None:
        _close(producer)
        return unauthorized("starting a resumable stream needs Authorization: Bearer <key>",
                            invalid=False)
    registry = current_registry()
    # Room for the producer and for this reader: refused before anything runs.
    if registry is not None and len(registry) + 2 > config.max_streams:
        _close(producer)
        raise Unavailable("too many open streams on this server; retry shortly",
                          type="too_many_streams", retry_after=1)
    try:
        release = take_producer_slot(owner) if owner is not None else None
    except BaseException:
        _close(producer)
        raise
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        # The first item is awaited in a snapshot of the view's context; the rest run in an
        # app context of the detached producer's own (pushed and popped in its greenlet).
        opened = _opened(producer, config.heartbeat_s)
    except BaseException:
        if release is not None:
            release()
        raise
    origin = OriginReader()
    try:
        stream_id = start_resumable(_in_app_context(app, opened), current_store(), config,
                                    owner=owner, registry=registry, on_stop=release,
                                    origin=origin)
    except BaseException:
        _close(opened)  # the wrapper never started, so it cannot close it
        raise
    try:
        return follow_response(stream_id, fmt=fmt, headers=headers, encoder=encoder,
                               origin=origin)
    except BaseException:
        origin.detach()  # no reader after all: the producer must not wait for one
        raise


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


def _block_s(config: Config) -> float:
    # How often an idle reader checks the lease: often enough to see a dead producer soon
    # after the lease runs out, rarely enough to cost nothing.
    return min(MAX_BLOCK_S, config.lease_s / 2)


# -- the detached producer ------------------------------------------------------------------


class _Run:
    """One resumable producer: the runner greenlet and its lease watcher."""

    def __init__(self, store: StreamStore, stream_id: str, config: Config,
                 origin: OriginReader | None) -> None:
        self.store, self.stream_id, self.config = store, stream_id, config
        self.origin = origin
        self.count = 0  # data records appended
        self.finishing = False

    def wait_room(self) -> None:
        """Backpressure: wait until the next record (data or terminal) cannot push out one
        the originating reader has not read yet."""
        if self.origin is not None:
            self.origin.wait_room(self.count + 1, self.config.resumable_max_records)

    def pump(self, it: Iterator[Any]) -> Entry | None:
        """Append the producer's records; the terminal record to write, or None when the
        store said the stream is already finished (cancelled) or gone."""
        while True:
            try:
                item = next(it)
            except StopIteration as stop:
                return End(self.count, returned(stop))
            kind = kind_of(item)  # streamer.producer: what a producer may yield
            if kind is PING:
                continue
            if kind is END or kind is ERROR:
                return item  # type: ignore[no-any-return]
            payload = item.data if kind is DATA else item
            self.wait_room()
            if not self.store.append(self.stream_id, Data(self.count + 1, payload)):
                return None
            self.count += 1

    def watch(self, runner: gevent.Greenlet) -> None:
        """Renew the lease every ``lease_s/3``; kill the runner when the store says stop."""
        every_s = self.config.lease_s / 3
        while True:
            try:
                if not self.store.keep_alive(self.stream_id, every_s):
                    break
            except StoreUnavailable:
                # The store already retried (and logged) for a lease; keep trying: if it
                # stays away, the lease lapses and readers say so.
                gevent.sleep(min(every_s, 1.0))
        if not self.finishing:
            runner.kill(block=False)


def _run(producer: Iterable[Any], store: StreamStore, stream_id: str, config: Config,
         registry: StreamRegistry | None = None,
         on_stop: Callable[[], None] | None = None,
         origin: OriginReader | None = None) -> None:
    try:
        _produce(producer, store, stream_id, config, origin)
    finally:
        if registry is not None:
            registry.detached -= 1
        if on_stop is not None:
            on_stop()


def _produce(producer: Iterable[Any], store: StreamStore, stream_id: str,
             config: Config, origin: OriginReader | None) -> None:
    run = _Run(store, stream_id, config, origin)
    watcher = gevent.spawn(run.watch, gevent.getcurrent())
    it = iter(producer)
    terminal: Entry | None = None
    timeout = StreamTimeout(f"the stream exceeded its maximum duration of "
                            f"{config.max_stream_s:g} s")
    try:
        with gevent.Timeout(config.max_stream_s, timeout):
            terminal = run.pump(it)
    except gevent.GreenletExit:
        return  # cancelled or reaped: the store already holds the terminal record
    except StoreUnavailable:
        # Not the stream's outcome: write nothing. The lease lapses; readers that can reach
        # the store say producer_lost, and nothing false is ever stored as its end.
        log.warning("resumable stream: the store stayed unreachable; stopping the producer")
        store.abandon(stream_id)
        return
    except StreamerError as exc:
        terminal = Error(exc.type, exc.message)
    except Exception:
        log.exception("resumable stream producer failed")
        terminal = Error("internal_error", "internal error")
    finally:
        run.finishing = True
        _close(it)
        if terminal is None:
            watcher.kill(block=False)
    if terminal is None:
        return  # the store said the stream was finished elsewhere (cancelled, reaped)
    # The terminal record takes a slot too. Bounded: a stuck originating client is dropped
    # by the send guard (which detaches it); without one, do not wait for ever.
    with gevent.Timeout(config.send_timeout_s or 30.0, False):
        run.wait_room()
    try:
        store.append(stream_id, terminal)  # wakes the watcher, which then returns
    except StoreUnavailable:
        log.warning("resumable stream: the store is unreachable; readers will see the "
                    "producer as lost")
        store.abandon(stream_id)
        watcher.kill(block=False)


def _close(producer: Any) -> None:
    close = getattr(producer, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("closing a resumable producer failed")
