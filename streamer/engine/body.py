"""The WSGI body of one stream: :class:`StreamBody`, iterate it for bytes.

It joins the parts: the fields and the producer step (:mod:`.core`), the watchers
(:mod:`.watchers`) and the endings (:mod:`.ending`); and it holds the strategy that runs the
producer (:mod:`.strategy`: :mod:`.pump` or :mod:`.inline`). Its life is a
:class:`streamer.engine.lifecycle.State`: ``NEW`` until the first write (the headers), ``OPEN``
while records go out, ``ENDING`` after a last ``error`` record, ``DONE`` / ``ABORTED`` once closed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import StreamerError
from ..wire.framing import Encoder
from .disconnect import DisconnectWatcher
from .ending import Endings
from .inline import INLINE
from .lifecycle import ENDING, FINAL, NEW, OPEN, advance
from .pump import PUMP
from .registry import StreamRegistry
from .request_context import Hold
from .sendguard import SendGuard
from .stats import StreamStats
from .watchers import Watchers


class StreamBody(Watchers, Endings):
    """The WSGI body of one stream. Iterate it for bytes; ``close()`` always cleans up."""

    __slots__ = ()

    def __init__(
        self,
        producer: Iterable[Any],
        encoder: type[Encoder],
        *,
        heartbeat_s: float,
        max_stream_s: float,
        retry_ms: int = 3000,
        sock: Any = None,
        first_id: int = 1,
        on_finish: Callable[[StreamStats], None] | None = None,
        registry: StreamRegistry | None = None,
        chunked: bool = False,
        send_timeout_s: float = 0.0,
        hold: Hold | None = None,
    ) -> None:
        self._producer = producer
        # The request's context, released once the stream is closed and the producer is done
        # (streamer.engine.request_context); the producer runs in its contextvars.
        self._hold = hold
        self._it = iter(producer)
        self._enc = encoder
        self._heartbeat_s = heartbeat_s
        self._deadline = time.monotonic() + max_stream_s
        self._max_stream_s = max_stream_s
        self._retry_ms = retry_ms
        self._lead = encoder.lead(retry_ms)
        self._socket = sock
        self._next_id = first_id
        self._on_finish = on_finish
        self.stats = StreamStats(encoder.name)

        self._buf = []
        self._buf_bytes = 0
        # The pump's two Events (streamer.engine.pump), made when a pump starts: an inline
        # stream has none (2 x ~150 B of each held stream, what it took to reach plain Flask).
        self._wake = self._space = None
        self._terminal = None  # end or error record, once the pump finished
        self._failure = None
        self._pump_done = False
        self._state = NEW  # streamer.engine.lifecycle: NEW -> OPEN -> ENDING -> DONE / ABORTED
        self._stop = None  # why it must stop early (streamer.engine.lifecycle.Stop), once asked
        self._registry = registry
        self._last_write = time.monotonic()
        # Text waits only for data or the deadline: one timer per stream instead of a
        # gevent.Timeout per wait (per record), which was ~5% of a slow stream's CPU.
        self._deadline_timer = None
        self._exc = None  # what the producer raised, if it failed
        # Inline (.inline): text over a chunked gunicorn socket, and a producer that is not the
        # adapter's (its close() waits for the bridge thread; keep it in a greenlet of its own).
        # No import here: a SyncStream exists only once its module is loaded (and an import
        # statement per stream ran importlib's Python-level fromlist handling).
        adapter = sys.modules.get("streamer.adapter")
        inline = (
            sock is not None
            and chunked
            and not encoder.framed
            and not (adapter is not None and isinstance(producer, adapter.SyncStream))
        )
        self._strategy = INLINE if inline else PUMP
        self._handler = None
        self._in_producer = False
        self._producer_done = False
        self._interrupt_pending = False
        self._held_check = False
        self._hub_passes = 0  # how often _check_held ran: the hub's passes, as this stream saw
        self._flusher = None
        # The pump greenlet; None once it is done. Inline streams start theirs in wait_first.
        self._pump = self._strategy.start(self)
        self._watcher = DisconnectWatcher(sock, self._client_gone) if sock is not None else None
        # With a registry, its sweep checks the deadline and the send guard (tick()): no
        # timers of this stream's own.
        self._send_guard = (
            SendGuard(
                sock,
                send_timeout_s,
                self._bytes_handed_over,
                self._send_timed_out,
                timer=registry is None,
            )
            if sock is not None and send_timeout_s > 0
            else None
        )
        if registry is not None:
            registry.add(self)  # last: its sweep may tick() this body from now on

    # -- before the first byte ---------------------------------------------------------------

    def wait_first(self, timeout: float) -> None:
        """Wait until the first record, the end, a failure or ``timeout``; raise a failure
        that happened before any record, so the caller can answer with a real status."""
        self._strategy.wait_first(self, timeout)
        # Only a failure raised before any record gets a status. An ``Error`` *record* the
        # producer yields (a resumed stream's stored outcome, e.g. ``producer_lost``) is the
        # stream's own end and goes out in-band with a 200, like to any reader (a
        # stream's terminal record reaches every reader in-band, a resume that starts right
        # before it included: tests/real/test_resumable_live.py).
        if self._failure is not None and not self._buf and self._exc is not None:
            exc = self._exc
            error = (
                exc
                if isinstance(exc, StreamerError)
                else StreamerError(self._failure.message, type=self._failure.type)
            )
            self.stats.outcome, self.stats.error_type = "error", self._failure.type
            self.stats.status = error.status
            self.close()
            if error is exc:
                raise error
            raise error from exc

    # -- the WSGI body -----------------------------------------------------------------------

    def __iter__(self) -> StreamBody:
        return self

    def __next__(self) -> bytes:
        state = self._state
        if state is not OPEN:
            if state in FINAL:
                raise StopIteration
            if state is ENDING:
                self._abort()
            self._state = advance(state, OPEN)
            # The first write happens now, so the headers go out: the records ready, or the
            # format's opening when none is (empty for text: gunicorn sends the headers alone).
            return self._emit(self._take() or self._enc.opening)
        while True:
            # The checks every strategy's step shares: a stop request, the deadline.
            if self._stop is not None or time.monotonic() >= self._deadline:
                return self._stopped()
            data = self._strategy.step(self)
            if data is not None:
                return data
