"""The fields every part of a stream body shares, and the producer -> buffer step.

A body's parts (:mod:`.watchers`, :mod:`.ending`, and :mod:`.body` that joins them) are
classes over this one, and the two strategies (:mod:`.pump`, :mod:`.inline`) work on its
fields: it declares every field once (as ``__slots__``: thousands of bodies are held per
worker, and without a ``__dict__`` each is ~0.8 KiB smaller) and the methods that all of them
use: :meth:`_pull` takes one item from the producer into the buffer (what the item means is
:mod:`streamer.engine.producer`'s), :meth:`_take` empties the buffer, :meth:`_emit` counts what goes
out.

How a body runs its producer is a :class:`Strategy`, at the end of this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

from gevent.event import Event

from .._compat.gevent import loop_s as loop_s  # re-exported: the engine's timers use it
from ..errors import StreamerError, UpstreamError
from ..wire.framing import Encoder
from ..wire.records import Error
from .lifecycle import State, Stop
from .producer import DATA, END, EVENT, PAYLOAD, PING, kind_of, returned
from .registry import StreamRegistry
from .request_context import Hold
from .stats import StreamStats

log = logging.getLogger("streamer")

# A fast producer runs ahead of the socket by at most this many bytes...
MAX_BUFFER = 64 * 1024
# ...and yields to the writer after this long, so a CPU-bound producer does not hold back
# records it has already made.
MAX_BATCH_S = 0.005


class BodyCore:
    """The shared fields (set in :meth:`streamer.engine.body.StreamBody.__init__`)."""

    __slots__ = (
        "_buf",
        "_buf_bytes",
        "_deadline",
        "_deadline_timer",
        "_enc",
        "_exc",
        "_failure",
        "_flusher",
        "_handler",
        "_heartbeat_s",
        "_held_check",
        "_hold",
        "_hub_passes",
        "_in_producer",
        "_interrupt_pending",
        "_it",
        "_last_write",
        "_lead",
        "_max_stream_s",
        "_next_id",
        "_on_finish",
        "_producer",
        "_producer_done",
        "_pump",
        "_pump_done",
        "_registry",
        "_retry_ms",
        "_send_guard",
        "_socket",
        "_space",
        "_state",
        "_stop",
        "_strategy",
        "_terminal",
        "_wake",
        "_watcher",
        "stats",
    )

    # The producer and the wire.
    _producer: Iterable[Any]
    _it: Iterator[Any]
    _enc: type[Encoder]
    _next_id: int
    _socket: Any  # the client socket (gunicorn's), or None
    _retry_ms: int
    # What the first event carries in front (SSE's retry hint); None once it is out (or, for
    # a format with none, once the first write went).
    _lead: bytes | None
    stats: StreamStats
    # The buffer between producer and writer (the backpressure: at most MAX_BUFFER bytes).
    _buf: list[bytes]
    _buf_bytes: int
    # The pump's (None until a pump starts): set when the buffer is non-empty, the pump has
    # finished or a stop was asked; set while the pump may append.
    _wake: Event | None
    _space: Event | None
    _terminal: bytes | None  # end or error record, once the producer finished
    _failure: Error | None
    _exc: BaseException | None  # what the producer raised, if it failed
    # The life of the body (streamer.engine.lifecycle) and why it must stop, the first reason asked.
    _state: State
    _stop: Stop | None
    # Watchers and timing.
    _deadline: float
    _max_stream_s: float
    _heartbeat_s: float
    _last_write: float
    _deadline_timer: Any
    _watcher: Any
    _send_guard: Any
    _registry: StreamRegistry | None
    _on_finish: Callable[[StreamStats], None] | None
    _hold: Hold | None
    # How the producer runs (Strategy, below): the strategy in charge, and the fields of each.
    _strategy: Strategy
    _pump: Any  # the pump greenlet; None once it is done
    _pump_done: bool
    _producer_done: bool
    _handler: Any  # inline: the handler greenlet that resumes the producer
    _in_producer: bool
    _interrupt_pending: bool
    _held_check: bool
    _hub_passes: int
    _flusher: Any

    if TYPE_CHECKING:  # the parts and the strategies call each other through the body

        def _client_gone(self) -> None: ...
        def _start_deadline_timer(self) -> None: ...
        def _finish(self) -> bytes: ...
        def _release(self) -> None: ...
        def shutdown(self) -> None: ...
        def tick(self, now: float) -> None: ...

    def _pull(self, it: Iterator[Any]) -> bool:
        """Take one item from the producer into the buffer; True when the stream ended (the
        terminal record is set)."""
        enc = self._enc
        try:
            item = next(it)
        except StopIteration as stop:
            self._terminal = enc.terminal_id(self._next_id) + enc.end(
                self.stats.records, returned(stop)
            )
            return True
        # The common case first: a plain payload, no call (streamer.engine.producer has the table).
        if type(item) is str or (kind := kind_of(item)) is PAYLOAD:
            chunk = enc.data(self._next_id, item)
        elif kind is DATA:
            self._next_id = item.id
            if item.event is None:
                chunk = enc.data(item.id, item.data)
            else:
                chunk = enc.event(item.id, item.event, item.data)
        elif kind is EVENT:
            chunk = enc.event(self._next_id, item.event, item.data)
        elif kind is PING:
            self.stats.heartbeats += 1
            self._buf.append(chunk := enc.ping())
            self._buf_bytes += len(chunk)
            return False
        elif kind is END:
            self._terminal = enc.terminal_id(self._next_id) + enc.end(item.count, item.extra)
            return True
        else:
            # An Error record is the stream's own end, as End is (a producer that raises
            # has no id: a reader that met a store failure resumes where it was).
            self._fail(item, None, enc.terminal_id(self._next_id))
            return True
        self._next_id += 1
        self.stats.records += 1
        self._buf.append(chunk)
        self._buf_bytes += len(chunk)
        return False

    def _producer_failed(self, exc: Exception) -> None:
        if isinstance(exc, StreamerError):
            self.stats.upstream_error = isinstance(exc, UpstreamError) or exc.type.startswith(
                "upstream"
            )
            self._fail(Error(exc.type, exc.message), exc)
        else:
            log.exception("stream producer failed", exc_info=exc)
            self._fail(Error("internal_error", "internal error"), exc)

    def _fail(self, error: Error, exc: BaseException | None = None, lead: bytes = b"") -> None:
        self._failure = error
        self._exc = exc
        self._terminal = lead + self._enc.error(error.type, error.message)

    def _take(self) -> bytes:
        if not self._buf:
            return b""
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        self._buf.clear()
        self._buf_bytes = 0
        if self._space is not None:
            self._space.set()
        return data

    def _emit(self, data: bytes) -> bytes:
        if data:
            now = monotonic()
            # The first writes' duties, behind one test per write (None once they are done):
            # the time of the first byte, and the lead (Encoder.lead), which the first write
            # that starts with an event carries in the same block (not one that starts with a
            # ``:`` comment: a ping, the opening).
            lead = self._lead
            if lead is not None:
                if self.stats.first_byte is None:
                    self.stats.first_byte = now
                if not lead:  # the format has none
                    self._lead = None
                elif data[0] != 58:
                    data, self._lead = lead + data, None
            self._last_write = now
            self.stats.bytes += len(data)
        return data


# -- how a body runs its producer --------------------------------------------------------------
# A body holds one strategy at a time (``body._strategy``), of two:
#
# - :data:`streamer.engine.pump.PUMP`: the producer runs in a greenlet of its own and fills the
#   buffer; the handler greenlet (the WSGI server's) takes what is there at each write.
# - :data:`streamer.engine.inline.INLINE`: the handler greenlet resumes the producer itself (text
#   over a chunked socket). Its first item is fetched by a pump greenlet, which ends as soon as it
#   sees another strategy in charge; a bulk producer is handed to the pump mid-stream
#   (:func:`hand_over`).
#
# A strategy keeps no state: each is one object shared by every body, working on the body's
# fields (thousands of bodies are held per worker; an object per body would cost memory for
# nothing). The checks every step shares (a stop request, the deadline) are the body's, made
# before each :meth:`Strategy.step` (:meth:`streamer.engine.body.StreamBody.__next__`).


class Strategy(Protocol):
    def start(self, body: BodyCore) -> Any:
        """When the body is made: the pump greenlet if one starts now, else None."""

    def wait_first(self, body: BodyCore, timeout: float) -> None:
        """Until the first item is in, the producer has ended, or ``timeout``."""

    def step(self, body: BodyCore) -> bytes | None:
        """The next bytes to write; or the end (:meth:`_finish`); or None: look again (a stop
        request may have come meanwhile)."""

    def take_over(self, body: BodyCore) -> None:
        """Run the producer from now on, mid-stream (it sits at a ``yield``)."""

    def stop(self, body: BodyCore) -> None:
        """A stop was requested (in the hub): stop the producer where it waits."""

    def close(self, body: BodyCore) -> None:
        """The body closes: stop the producer; its ``finally`` runs."""


def hand_over(body: BodyCore, to: Strategy) -> None:
    """Make ``to`` run the producer of ``body`` from its next item on."""
    body._strategy = to
    to.take_over(body)
