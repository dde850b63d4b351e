"""Turn any producer (a generator, any iterable) into a streamed Flask response.

The contract this module keeps (docs/design.md, "The wire contract"):

1. The status is chosen after the producer has had its chance to fail on open: the view waits
   (up to one heartbeat interval) for the first item. A failure before the first byte is raised
   from :func:`stream_response` so the app turns it into a real HTTP status with a JSON body.
2. ``end`` is written only on success. A failure after the first byte writes an ``error``
   record (ndjson, sse) and then ends the connection without the chunked terminator, so no
   HTTP client can mistake a broken stream for a complete one (text too).
3. Nothing is buffered on the way: anti-buffering headers, no Content-Length, and each record
   goes out as soon as it exists. Records that are ready together go out in one write
   (coalescing), which is what makes a fast producer cheap; a slow producer's record is never
   held back waiting for company.
4. After ``heartbeat_s`` of silence, ``ping`` (ndjson, sse).
5. A client that leaves stops the work at once: :mod:`streamer.disconnect` watches the
   socket, and the producer's greenlet is killed, so its ``finally`` runs even while it idles.

How: the producer runs in its own greenlet (the *pump*) and appends encoded records to a
bounded buffer; the WSGI server's greenlet iterates :class:`StreamBody`, which takes everything
buffered at once. The bound (``max_buffer`` bytes) is the backpressure: a client that reads
slowly blocks the server's write, the buffer fills, and the pump waits.

Producers yield payloads (ids are assigned here, 1, 2, 3, ...), or records: a :class:`Data`
keeps its id (replayed streams), :class:`End` / :class:`Error` end the stream as they say,
:class:`Ping` is a heartbeat. A generator's return value, if a dict, is added to ``end``
(chat puts ``usage`` there).
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
import greenlet
from flask import Response, request
from gevent import GreenletExit
from gevent.event import Event

from .config import Config
from .context import current_state
from .disconnect import DisconnectWatcher
from .errors import StreamerError, Unavailable, UpstreamError
from .flask_context import Hold, hold_request
from .framing import FORMATS, Encoder
from .lifecycle import FINAL, State, advance
from .params import choose_request_format
from .producer import Kind, kind_of, returned
from .records import Error
from .registry import StreamRegistry
from .sendguard import SendGuard

log = logging.getLogger("streamer")

# A fast producer runs ahead of the socket by at most this many bytes...
MAX_BUFFER = 64 * 1024
# ...and yields to the writer after this long, so a CPU-bound producer does not hold back
# records it has already made.
MAX_BATCH_S = 0.005

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer this response
    "X-Content-Type-Options": "nosniff",  # browsers: do not hold bytes back to sniff
}


_STREAM_HEADER_LIST = list(STREAM_HEADERS.items())


class _Interrupted(GreenletExit):  # type: ignore[misc]  # gevent is untyped here
    """Thrown into the handler greenlet while it runs an inline producer: the stream must stop
    (client gone, deadline, shutdown). A GreenletExit, so the producer sees what a killed pump
    greenlet's producer sees."""


class StreamAborted(StreamerError, ConnectionAbortedError):
    """Raised to a WSGI server that gave no socket, to make it drop a broken stream."""

    type = "aborted"


@dataclass(slots=True)
class StreamStats:
    """What one stream did, for logs and metrics."""

    format: str
    started: float = field(default_factory=time.monotonic)
    first_byte: float | None = None
    finished: float | None = None
    records: int = 0
    bytes: int = 0
    heartbeats: int = 0
    # complete | error | timeout | disconnect | shutdown
    outcome: str = "open"
    error_type: str | None = None
    upstream_error: bool = False
    # The HTTP status: 200 once streaming, the error's status if it failed before that.
    status: int = 200

    @property
    def ttfb_s(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started

    @property
    def duration_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class StreamBody:
    """The WSGI body of one stream. Iterate it for bytes; ``close()`` always cleans up."""

    # Thousands are held per worker: without a __dict__ each is ~0.8 KiB smaller.
    __slots__ = ("_buf", "_buf_bytes", "_deadline", "_deadline_hit", "_deadline_timer", "_enc",
                 "_exc", "_failure", "_flusher", "_gone", "_handed", "_handler", "_heartbeat_s",
                 "_held_check", "_hold", "_hub_passes", "_in_producer", "_inline",
                 "_interrupt_pending", "_it", "_last_write", "_max_stream_s", "_next_id",
                 "_on_finish", "_producer", "_producer_done", "_pump", "_pump_done", "_ready",
                 "_registry", "_retry_ms", "_send_guard", "_shutting_down", "_sock", "_space",
                 "_state", "_terminal", "_watcher", "stats")

    def __init__(self, producer: Iterable[Any], encoder: type[Encoder], *,
                 heartbeat_s: float, max_stream_s: float, retry_ms: int = 3000,
                 sock: Any = None, first_id: int = 1,
                 on_finish: Callable[[StreamStats], None] | None = None,
                 registry: StreamRegistry | None = None, chunked: bool = False,
                 send_timeout_s: float = 0.0, hold: Hold | None = None) -> None:
        self._producer = producer
        # The request's context, released once the stream is closed and the producer is done
        # (streamer.flask_context); the producer runs in its contextvars.
        self._hold = hold
        self._it: Iterator[Any] = iter(producer)
        self._enc = encoder
        self._heartbeat_s = heartbeat_s
        self._deadline = time.monotonic() + max_stream_s
        self._max_stream_s = max_stream_s
        self._retry_ms = retry_ms
        self._sock = sock
        self._next_id = first_id
        self._on_finish = on_finish
        self.stats = StreamStats(encoder.name)

        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._ready = Event()  # set: buffer non-empty, or the pump has finished
        self._space = Event()  # set: the pump may append
        self._space.set()
        self._terminal: bytes | None = None  # end or error record, once the pump finished
        self._failure: Error | None = None
        self._pump_done = False
        self._gone = False
        self._state = State.NEW  # streamer.lifecycle: NEW -> OPEN -> ENDING -> DONE / ABORTED
        self._shutting_down = False
        self._registry = registry
        self._last_write = time.monotonic()
        # Text waits only for data or the deadline: one timer per stream instead of a
        # gevent.Timeout per wait (per record), which was ~5% of a slow stream's CPU.
        self._deadline_timer: Any = None
        self._deadline_hit = False
        self._exc: BaseException | None = None  # what the producer raised, if it failed
        # Inline mode (see _next_inline): text over a chunked gunicorn socket, and a producer
        # that is not the adapter's (its close() waits for the bridge thread; keep it in a
        # greenlet of its own).
        # No import here: a SyncStream exists only once its module is loaded (and an import
        # statement per stream ran importlib's Python-level fromlist handling).
        adapter = sys.modules.get(f"{__package__}.adapter")
        self._inline = (sock is not None and chunked and not encoder.framed
                        and not (adapter is not None and isinstance(producer, adapter.SyncStream)))
        self._handed = False  # inline: the pump got the first item; the handler runs the rest
        self._handler: Any = None
        self._in_producer = False
        self._producer_done = False
        self._interrupt_pending = False
        self._held_check = False
        self._hub_passes = 0  # how often _check_held ran: the hub's passes, as this stream saw
        self._flusher: Any = None
        # The pump greenlet; None once it is done. Inline streams start theirs in wait_first.
        self._pump: Any = None if self._inline else self._spawn_pump()
        self._watcher = DisconnectWatcher(sock, self._client_gone) if sock is not None else None
        # With a registry, its sweep checks the deadline and the send guard (tick()): no
        # timers of this stream's own.
        self._send_guard = (SendGuard(sock, send_timeout_s, self._bytes_handed_over,
                                      self._send_timed_out, timer=registry is None)
                            if sock is not None and send_timeout_s > 0 else None)
        if registry is not None:
            registry.add(self)  # last: its sweep may tick() this body from now on

    # -- the pump: runs the producer in its own greenlet ------------------------------------

    def _spawn_pump(self) -> Any:
        pump = gevent.spawn(self._run_pump)
        if self._hold is not None:
            pump.gr_context = self._hold.context  # not started yet: it starts in this context
        return pump

    def _run_pump(self) -> None:
        it = self._it
        handed = False
        batch_started = 0.0
        try:
            while True:
                if not self._buf:
                    batch_started = time.monotonic()
                if self._pull(it):
                    return
                self._ready.set()
                if self._inline:
                    # The first item is in: the producer now sits at a ``yield``, so the
                    # handler greenlet can resume it itself and this greenlet (its stack, its
                    # wake-ups) goes away for the rest of the stream.
                    handed = self._handed = True
                    return
                if self._buf_bytes >= MAX_BUFFER:
                    self._space.clear()
                    self._space.wait()
                elif time.monotonic() - batch_started > MAX_BATCH_S:
                    gevent.sleep(0)  # let the writer take what is ready
        except gevent.GreenletExit:
            raise  # closed from outside: the finally below closes the producer
        except Exception as exc:
            self._producer_failed(exc)
        finally:
            self._pump_done = True
            if self._pump is gevent.getcurrent():
                self._pump = None  # a dead greenlet held by each open stream is ~0.5 KiB
            self._ready.set()
            if not handed:
                self._producer_done = True
                close = getattr(it, "close", None)
                try:
                    if close is not None:
                        close()
                finally:
                    if self._state in FINAL:
                        self._release()

    def _pull(self, it: Iterator[Any]) -> bool:
        """Take one item from the producer into the buffer; True when the stream ended (the
        terminal record is set)."""
        enc = self._enc
        try:
            item = next(it)
        except StopIteration as stop:
            self._terminal = enc.end(self.stats.records, returned(stop))
            return True
        # The common case first: a plain payload, no call (streamer.producer has the table).
        kind = Kind.PAYLOAD if type(item) is str else kind_of(item)
        if kind is Kind.PAYLOAD:
            chunk = enc.data(self._next_id, item)
        elif kind is Kind.DATA:
            self._next_id = item.id
            chunk = enc.data(item.id, item.data)
        elif kind is Kind.PING:
            self.stats.heartbeats += 1
            self._buf.append(chunk := enc.ping())
            self._buf_bytes += len(chunk)
            return False
        elif kind is Kind.END:
            self._terminal = enc.end(item.count, item.extra)
            return True
        else:
            self._fail(item)
            return True
        self._next_id += 1
        self.stats.records += 1
        self._buf.append(chunk)
        self._buf_bytes += len(chunk)
        return False

    def _producer_failed(self, exc: Exception) -> None:
        if isinstance(exc, StreamerError):
            self.stats.upstream_error = isinstance(exc, UpstreamError) or exc.type.startswith(
                "upstream")
            self._fail(Error(exc.type, exc.message), exc)
        else:
            log.exception("stream producer failed", exc_info=exc)
            self._fail(Error("internal_error", "internal error"), exc)

    def _fail(self, error: Error, exc: BaseException | None = None) -> None:
        self._failure = error
        self._exc = exc
        self._terminal = self._enc.error(error.type, error.message)

    def _client_gone(self) -> None:
        self._gone = True
        self._kill_pump()
        self._ready.set()
        self._interrupt()

    def _kill_pump(self) -> None:
        pump = self._pump
        if pump is None:
            return
        if isinstance(pump, gevent.Greenlet):
            pump.kill(block=False)
        else:
            # A raw greenlet (wait_first): thrown into from the hub, and only if still alive
            # then (a dead greenlet's throw would land in its parent).
            gevent.get_hub().loop.run_callback(_throw_exit, pump)

    def _interrupt(self) -> None:
        """Inline mode: stop the producer if the handler greenlet is inside it (what killing
        the pump does otherwise). Thrown from the hub, never from the caller's greenlet:
        throwing from another greenlet would park that one with nobody to resume it."""
        if self._handed and not self._interrupt_pending:
            self._interrupt_pending = True
            gevent.get_hub().loop.run_callback(self._throw_in)

    def _throw_in(self) -> None:  # in the hub
        self._interrupt_pending = False
        # Checked now, not when asked: the handler may have left the producer since (it may
        # be writing, and an exception there would break the server's write).
        if self._in_producer and self._handler is not None and not self._handler.dead:
            self._handler.throw(_Interrupted)

    def _bytes_handed_over(self) -> int:
        return self.stats.bytes

    def _send_timed_out(self) -> None:  # in the hub; the SendGuard then resets the socket
        if self.stats.outcome == "open":
            self.stats.outcome = "send_timeout"
        self._kill_pump()

    def shutdown(self) -> None:
        """The worker is stopping: end this stream with a ``shutdown`` error record (after an
        SSE ``retry`` hint) so clients reconnect elsewhere, never with ``end``."""
        self._shutting_down = True
        self._kill_pump()
        self._ready.set()
        self._interrupt()

    # -- before the first byte ---------------------------------------------------------------

    def wait_first(self, timeout: float) -> None:
        """Wait until the first record, the end, a failure or ``timeout``; raise a failure
        that happened before any record, so the caller can answer with a real status."""
        if self._inline and self._pump is None and not self._pump_done:
            self._first_inline(timeout)
        else:
            self._ready.wait(timeout)
        # Only a failure raised before any record gets a status. An ``Error`` *record* the
        # producer yields (a resumed stream's stored outcome, e.g. ``producer_lost``) is the
        # stream's own end and goes out in-band with a 200, like to any reader (DESIGN.md,
        # "the terminal record ... including a resume that starts right before it").
        if self._failure is not None and not self._buf and self._exc is not None:
            exc = self._exc
            error = exc if isinstance(exc, StreamerError) else StreamerError(
                self._failure.message, type=self._failure.type)
            self.stats.outcome, self.stats.error_type = "error", self._failure.type
            self.stats.status = error.status
            self.close()
            if error is exc:
                raise error
            raise error from exc

    def _first_inline(self, timeout: float) -> None:
        """Inline mode: fetch the first item in a raw greenlet switched to directly, not
        spawned: a producer whose first item is ready costs two switches, and the view never
        passes through the hub, so the request's short-lived objects are freed before the
        next request allocates (a hub pass here left ~3 KiB per held stream of holes in
        pymalloc's pools). A producer that blocks lets the hub run; it switches back here
        when it is done, or the timer does after ``timeout``, and then it goes on as an
        ordinary pump under the hub (the headers go out, as with a spawned pump)."""
        here = gevent.getcurrent()
        hub = gevent.get_hub()
        pump = self._pump = greenlet.greenlet(self._run_pump, parent=here)
        if self._hold is not None:
            pump.gr_context = self._hold.context
        timer = hub.loop.timer(timeout)
        timer.start(here.switch)
        try:
            pump.switch()
        finally:
            timer.stop()
            timer.close()
            if not pump.dead:
                pump.parent = hub  # from now on its end goes to the hub, not to this view

    # -- the WSGI body -----------------------------------------------------------------------

    def __iter__(self) -> StreamBody:
        return self

    def __next__(self) -> bytes:
        state = self._state
        if state is not State.OPEN:
            if state in FINAL:
                raise StopIteration
            if state is State.ENDING:
                self._abort()
            self._state = advance(state, State.OPEN)
            # The first write happens now, even if empty, so the headers go out.
            return self._emit(self._enc.prelude(self._retry_ms) + self._take())
        if self._handed and not self._buf:
            return self._next_inline()  # which makes the checks below itself
        while True:
            if self._gone:
                self.stats.outcome = "disconnect"
                self._abort()
            if self._shutting_down:
                return self._shut_down()
            now = time.monotonic()
            if now >= self._deadline or self._deadline_hit:
                return self._timed_out()
            if self._buf:
                return self._emit(self._take())
            if self._handed:
                return self._next_inline()
            if self._pump_done:
                return self._finish()
            if not self._enc.framed:
                # Text has no ping: it only waits for data or the deadline.
                self._start_deadline_timer()
                self._ready.wait()
            elif not self._ready.wait(max(min(self._last_write + self._heartbeat_s,
                                              self._deadline) - now, 0.0)):
                if time.monotonic() - self._last_write >= self._heartbeat_s:
                    self.stats.heartbeats += 1
                    return self._emit(self._enc.ping())
                continue
            if not self._pump_done:
                self._ready.clear()

    def _next_inline(self) -> bytes:
        """Inline mode: the handler greenlet resumes the producer itself, so a stream costs
        one greenlet and one wake-up per record instead of two of each.

        Records that come without the producer blocking are coalesced (up to ``MAX_BUFFER``
        or ``MAX_BATCH_S``), as the pump does. A record that came after a block goes out at
        once. If the producer blocks while records are held, a hub callback (``_check_held``)
        sends them from a helper greenlet, so a record is never held back waiting for company.
        Client gone, deadline and shutdown throw :class:`_Interrupted` into the producer where
        it waits, which is what killing the pump greenlet did.
        """
        if self._handler is None:
            self._handler = gevent.getcurrent()
        self._start_deadline_timer()
        loop = gevent.get_hub().loop
        it = self._it
        batch_started = time.monotonic()
        if not self._held_check:
            # One hub callback per pass: it counts the hub's passes (below) and sends held
            # records if the producer blocks while holding them.
            self._held_check = True
            loop.run_callback(self._check_held)
        while True:
            if self._flusher is not None:
                self._flusher.join()  # held records go out before anything after them
                self._flusher = None
            if self._gone:
                self.stats.outcome = "disconnect"
                self._abort()
            if self._shutting_down:
                return self._shut_down()
            if self._deadline_hit or time.monotonic() >= self._deadline:
                return self._timed_out()
            if self._producer_done:
                if self._buf:
                    return self._emit(self._take())
                return self._finish()
            passes = self._hub_passes
            ended = False
            self._in_producer = True
            try:
                # Tight loop while the producer does not block: the flags above change only
                # when the hub runs, and then ``_check_held`` counts a pass and the loop ends.
                # (Not the loop's ``iteration``: gevent's libuv loop leaves it at -1.)
                n = 0
                while not self._pull(it):
                    n += 1
                    if (self._hub_passes != passes or self._buf_bytes >= MAX_BUFFER
                            or (not n & 63 and time.monotonic() - batch_started > MAX_BATCH_S)):
                        break
                else:
                    ended = True
            except _Interrupted:
                ended = True  # the flags above say why
            except GreenletExit:
                self._producer_done = True
                raise  # the handler itself is being killed
            except Exception as exc:
                self._producer_failed(exc)
                ended = True
            finally:
                self._in_producer = False
            if ended:
                self._producer_done = True
                continue
            if self._flusher is not None:
                self._flusher.join()  # the held records first, then these
                self._flusher = None
            if (self._buf_bytes >= MAX_BUFFER and self._hub_passes == passes
                    and len(self._buf) > 8):
                # A full buffer without a single block: a bulk producer. It gains more from
                # running in a pump while this greenlet waits on the socket (M1, M2) than it
                # saves inline; the generator sits at a ``yield``, so a new pump resumes it.
                self._inline = self._handed = self._pump_done = False
                self._ready.clear()
                self._pump = self._spawn_pump()
            return self._emit(self._take())

    def _check_held(self) -> None:  # in the hub
        """The hub runs: count the pass; if the inline producer is blocked with records held,
        send them."""
        self._held_check = False
        self._hub_passes += 1
        if self._in_producer and self._buf and self._flusher is None:
            data = self._emit(self._take())
            self._flusher = gevent.spawn(self._send_held, data)

    def _send_held(self, data: bytes) -> None:
        # The handler is inside the producer, not writing, and the headers went out with the
        # first chunk; frame as gunicorn does for HTTP/1.1 (inline mode requires chunked).
        try:
            self._sock.sendall(b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            self._gone = True
            self._interrupt()

    def _shut_down(self) -> bytes:
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "shutdown", "shutdown"
        self._state = advance(self._state, State.ENDING)
        if not self._enc.framed:
            self._abort()
        message = "the server is restarting; reconnect to continue"
        return self._emit(self._enc.prelude(self._retry_ms) +
                          self._enc.error("shutdown", message))

    def tick(self, now: float) -> None:  # in the hub, from the registry's sweep
        if now >= self._deadline and not self._deadline_hit and self._state not in FINAL:
            self._on_deadline()
        if self._send_guard is not None:
            self._send_guard.check()

    def _start_deadline_timer(self) -> None:
        """Text waits only for data or the deadline: one timer per stream, started once
        (none with a registry, whose sweep calls tick())."""
        if self._deadline_timer is None and self._registry is None:
            self._deadline_timer = gevent.get_hub().loop.timer(
                max(self._deadline - time.monotonic(), 0.0))
            self._deadline_timer.start(self._on_deadline)

    def _on_deadline(self) -> None:  # in the hub
        self._deadline_hit = True
        self._ready.set()
        self._interrupt()

    def _timed_out(self) -> bytes:
        self._kill_pump()
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "timeout", "timeout"
        self._failure = Error("timeout", f"the stream exceeded its maximum duration of "
                                         f"{self._max_stream_s:g} s")
        self._state = advance(self._state, State.ENDING)
        if not self._enc.framed:
            self._abort()
        return self._emit(self._enc.error(self._failure.type, self._failure.message))

    def _take(self) -> bytes:
        if not self._buf:
            return b""
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        self._buf.clear()
        self._buf_bytes = 0
        self._space.set()
        return data

    def _emit(self, data: bytes) -> bytes:
        if data:
            now = time.monotonic()
            if self.stats.first_byte is None:
                self.stats.first_byte = now
            self._last_write = now
            self.stats.bytes += len(data)
        return data

    def _finish(self) -> bytes:
        terminal, self._terminal = self._terminal, None
        if self._failure is not None:
            self.stats.outcome, self.stats.error_type = "error", self._failure.type
            self._state = advance(self._state, State.ENDING)
            if terminal and self._enc.framed:
                return self._emit(terminal)
            self._abort()
        if terminal is not None:
            self.stats.outcome = "complete"
            if terminal:
                return self._emit(terminal)
        # Done: clean up now, as a server's close() would (it may come later, or, with a
        # test client, not at all): the request's teardown runs when the stream ends.
        self.close()
        raise StopIteration

    def _abort(self) -> None:
        """End the connection without the chunked terminator."""
        self.close()
        if self._sock is None:
            raise StreamAborted("stream ended early")
        try:
            # After this the server's terminator write fails with EPIPE, which gunicorn
            # ignores; the client sees a body cut short.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise StopIteration

    def close(self) -> None:
        """Stop the producer (its ``finally`` runs) and the watcher; report the stats once."""
        if self._state in FINAL:
            return
        # Final now (a second close() returns above); DONE only once ``end`` went out.
        self._state = advance(self._state, State.DONE if self.stats.outcome == "complete"
                              else State.ABORTED)
        if self._registry is not None:
            self._registry.discard(self)
        if self._deadline_timer is not None:
            self._deadline_timer.stop()
            self._deadline_timer.close()
        if self._watcher is not None:
            self._watcher.stop()
        if self._send_guard is not None:
            self._send_guard.stop()
        self._kill_pump()
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self._handed and not self._producer_done:
            # Inline: the producer waits at a ``yield``; closing it runs its ``finally``.
            self._producer_done = True
            close = getattr(self._it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("stream producer failed to close")
        if self.stats.outcome == "open":
            # The server stopped iterating before the end: its write to the client failed.
            self.stats.outcome = "disconnect"
        self.stats.finished = time.monotonic()
        if self._on_finish is not None:
            try:
                self._on_finish(self.stats)
            except Exception:
                log.exception("stream on_finish hook failed")
        pump = self._pump
        if pump is None or pump.dead:
            self._release()
        # else: the killed pump releases from its ``finally``, after the producer's.

    def _release(self) -> None:
        """The stream is closed and its producer has finished: the request's teardown runs
        now (once), with the producer's exception if it failed."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release(self._exc if self.stats.outcome == "error" else None)


def _throw_exit(pump: Any) -> None:  # in the hub
    if not pump.dead:
        pump.throw(GreenletExit)


class StreamObserver(Protocol):
    """Told when each stream starts and ends (access log, metrics)."""

    def started(self, route: str, fmt: str) -> None: ...

    def finished(self, route: str, stats: StreamStats) -> None: ...


def stream_for_request(producer: Iterable[Any], *, first_id: int = 1,
                       headers: dict[str, str] | None = None,
                       fmt: str | None = None,
                       encoder: type[Encoder] | None = None) -> Response:
    """In a Flask view: :func:`stream_response` with the format the request asks for (or
    ``fmt``, or ``encoder`` for an API with a wire format of its own), the app's config, its
    registry of open streams (limit, graceful shutdown), and its observers (access log,
    metrics). The request's context stays alive for the producer and is torn down once when
    the stream ends (streamer.flask_context). Most views call :func:`streamer.stream`
    instead, which also takes async iterables.

    >>> @app.get("/numbers")
    ... def numbers():
    ...     return stream_for_request(range(10))
    """
    state = current_state()
    if encoder is not None:
        fmt = encoder.name
    elif fmt is None:
        fmt = choose_request_format(request)
    elif fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    config = state.config
    registry = state.registry
    if registry.shutting_down:
        raise Unavailable("the server is restarting; retry", type="shutdown", retry_after=1)
    if len(registry) >= config.max_streams:
        raise Unavailable("too many open streams on this server; retry shortly",
                          type="too_many_streams", retry_after=1)
    route = request.url_rule.rule if request.url_rule is not None else request.path
    observers = state.observers
    for observer in observers:
        observer.started(route, fmt)

    def on_finish(stats: StreamStats) -> None:
        for observer in observers:
            observer.finished(route, stats)

    hold = hold_request()
    try:
        return stream_response(producer, fmt=fmt, config=config, environ=request.environ,
                               first_id=first_id, headers=headers, on_finish=on_finish,
                               registry=registry, hold=hold,
                               encoder=encoder)
    except BaseException:
        if hold is not None:
            hold.release()  # if the body did not already: the view's own teardown runs
        raise


def stream_response(producer: Iterable[Any], *, fmt: str, config: Config,
                    environ: dict[str, Any] | None = None, first_id: int = 1,
                    headers: dict[str, str] | None = None,
                    on_finish: Callable[[StreamStats], None] | None = None,
                    registry: StreamRegistry | None = None,
                    hold: Hold | None = None,
                    encoder: type[Encoder] | None = None) -> Response:
    """A streamed response of ``producer`` in format ``fmt`` (or with ``encoder``, which
    then wins: a wire format that is not one of :data:`~streamer.framing.FORMATS`).

    Raises the producer's error if it fails before its first item (the app maps it to a
    status and a JSON body). ``environ`` is the WSGI environ: with gunicorn it gives the client
    socket, which turns on prompt disconnect detection and clean aborts.

    >>> def view():
    ...     return stream_response((f"chunk {i}\\n" for i in range(3)), fmt="text",
    ...                            config=Config(), environ=request.environ)
    """
    if encoder is None:
        encoder = FORMATS[fmt]
    sock = (environ or {}).get("gunicorn.socket")
    if sock is not None:
        try:
            # Small records must not wait for an ACK (Nagle); gunicorn sets this on the
            # listener, set it here too so it holds whatever accepted the socket.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    body = StreamBody(producer, encoder, heartbeat_s=config.heartbeat_s,
                      max_stream_s=config.max_stream_s, retry_ms=config.retry_ms, sock=sock,
                      first_id=first_id, on_finish=on_finish, registry=registry,
                      chunked=(environ or {}).get("SERVER_PROTOCOL") == "HTTP/1.1"
                      and (environ or {}).get("REQUEST_METHOD") != "HEAD",
                      send_timeout_s=config.send_timeout_s, hold=hold)
    body.wait_first(config.heartbeat_s)
    # Headers as a list: Headers.update() searches for each name to replace it.
    response = Response(body, status=200, headers=_STREAM_HEADER_LIST, mimetype=None,
                        content_type=encoder.media_type, direct_passthrough=True)
    if headers:
        response.headers.update(headers)
    return response
