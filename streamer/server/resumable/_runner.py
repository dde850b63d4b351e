"""The detached producer of a resumable stream: appends its records to the store, renews its
lease, stops when the store says so, and ends the stream (``End`` or ``Error``) exactly once.

A store failure is never a stream's outcome: a producer whose store stays away longer than
the store's retries stops without writing a terminal record (readers then see
``producer_lost``). A store that lost the stream (Redis back empty) answers the next append
or renewal with "stop", as for a cancel: the store has already left ``store_lost`` for
readers, and the producer is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent
from gevent.pool import Group

from ...config import Config
from ...engine.producer import DATA, END, ERROR, EVENT, PING, kind_of, returned
from ...engine.registry import StreamRegistry
from ...errors import StoreUnavailable, StreamerError, StreamTimeout
from ...store import Entry, StreamStore, new_stream_id
from ...wire.records import Data, End, Error
from .origin import OriginReader

log = logging.getLogger("streamer")

# This process's running producers, so that a worker's graceful shutdown can let them finish
# (wait_for_producers) while their readers reconnect to another instance.
_producers = Group()


def start_resumable(
    producer: Iterable[Any],
    store: StreamStore,
    config: Config,
    *,
    owner: str | None = None,
    limit: int | None = None,
    registry: StreamRegistry | None = None,
    on_stop: Callable[[], None] | None = None,
    origin: OriginReader | None = None,
) -> str:
    """Create a stream, start ``producer`` writing to it in the background, return its id.

    ``owner`` (a key id) is recorded with the stream, and limited to ``limit`` running streams
    in the store when ``limit`` is given; with ``registry`` the producer counts toward the worker's
    ``max_streams`` while it runs; ``on_stop`` runs when it stops (or if it never starts).
    With ``origin`` (the reader that started it, in this worker) the producer never runs so
    far ahead of that reader that the store's bound drops a record it has not read
    (:mod:`streamer.server.resumable.origin`).

    Raises ``StoreUnavailable`` / ``Unavailable`` (503) or a 429 if the store cannot take it;
    the producer is then closed without having run.

    >>> sid = start_resumable(data_chunks(3, 0.1), store, config)
    """
    stream_id = new_stream_id()
    try:
        store.create(stream_id, owner, limit if owner else None)
    except BaseException:
        _close(producer)
        if on_stop is not None:
            on_stop()
        raise
    if registry is not None:
        registry.detached += 1
    _producers.spawn(_run, producer, store, stream_id, config, registry, on_stop, origin)
    return stream_id


def wait_for_producers(timeout: float) -> int:
    """Wait up to ``timeout`` s for this process's resumable producers to finish; how many
    are still running. For a worker's graceful shutdown: its readers were told to reconnect
    elsewhere, and the records they are waiting for keep coming (to the store) meanwhile."""
    _producers.join(timeout=max(0.0, timeout))
    return len(_producers)


class _Run:
    """One resumable producer: the runner greenlet and its lease watcher."""

    def __init__(
        self, store: StreamStore, stream_id: str, config: Config, origin: OriginReader | None
    ) -> None:
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
            kind = kind_of(item)  # streamer.engine.producer: what a producer may yield
            if kind is PING:
                continue
            if kind is END or kind is ERROR:
                return item  # type: ignore[no-any-return]
            if kind is DATA or kind is EVENT:  # a name (Event's, a replayed Data's) is kept
                record = Data(self.count + 1, item.data, item.event)
            else:
                record = Data(self.count + 1, item)
            self.wait_room()
            if not self.store.append(self.stream_id, record):
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


def _run(
    producer: Iterable[Any],
    store: StreamStore,
    stream_id: str,
    config: Config,
    registry: StreamRegistry | None = None,
    on_stop: Callable[[], None] | None = None,
    origin: OriginReader | None = None,
) -> None:
    try:
        _produce(producer, store, stream_id, config, origin)
    finally:
        if registry is not None:
            registry.detached -= 1
        if on_stop is not None:
            on_stop()


def _produce(
    producer: Iterable[Any],
    store: StreamStore,
    stream_id: str,
    config: Config,
    origin: OriginReader | None,
) -> None:
    run = _Run(store, stream_id, config, origin)
    watcher = gevent.spawn(run.watch, gevent.getcurrent())
    it = iter(producer)
    terminal: Entry | None = None
    timeout = StreamTimeout(
        f"the stream exceeded its maximum duration of {config.max_stream_s:g} s"
    )
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
        log.warning(
            "resumable stream: the store is unreachable; readers will see the producer as lost"
        )
        store.abandon(stream_id)
        watcher.kill(block=False)


def _close(producer: Any) -> None:
    close = getattr(producer, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("closing a resumable producer failed")
