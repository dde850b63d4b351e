"""Turn any producer (a generator, any iterable) into a streamed Flask response.

The contract this module keeps (DESIGN.md, "The wire contract"):

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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
from flask import Response, current_app, request
from gevent.event import Event

from .config import Config
from .disconnect import DisconnectWatcher
from .errors import StreamerError, Unavailable, UpstreamError
from .framing import FORMATS, Encoder
from .records import Data, End, Error, Ping
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


class StreamAborted(StreamerError, ConnectionAbortedError):
    """Raised to a WSGI server that gave no socket, to make it drop a broken stream."""

    type = "aborted"


@dataclass
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

    def __init__(self, producer: Iterable[Any], encoder: type[Encoder], *,
                 heartbeat_s: float, max_stream_s: float, retry_ms: int = 3000,
                 sock: Any = None, first_id: int = 1,
                 on_finish: Callable[[StreamStats], None] | None = None,
                 registry: StreamRegistry | None = None, send_timeout_s: float = 0.0) -> None:
        self._producer = producer
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
        self._started = False
        self._closed = False
        self._abort_next = False
        self._shutting_down = False
        self._registry = registry
        if registry is not None:
            registry.add(self)
        self._last_write = time.monotonic()
        # Text waits only for data or the deadline: one timer per stream instead of a
        # gevent.Timeout per wait (per record), which was ~5% of a slow stream's CPU.
        self._deadline_timer: Any = None
        self._deadline_hit = False
        self._pump = gevent.spawn(self._run_pump)
        self._watcher = DisconnectWatcher(sock, self._client_gone) if sock is not None else None
        self._send_guard = (SendGuard(sock, send_timeout_s, self._bytes_handed_over,
                                      self._send_timed_out)
                            if sock is not None and send_timeout_s > 0 else None)

    # -- the pump: runs the producer in its own greenlet ------------------------------------

    def _run_pump(self) -> None:
        enc = self._enc
        it: Iterator[Any] = iter(self._producer)
        count = 0
        batch_started = 0.0
        try:
            while True:
                try:
                    item = next(it)
                except StopIteration as stop:
                    extra = stop.value if isinstance(stop.value, dict) else {}
                    self._terminal = enc.end(count, extra)
                    return
                if isinstance(item, Data):
                    self._next_id = item.id
                    chunk = enc.data(item.id, item.data)
                elif isinstance(item, Ping):
                    self.stats.heartbeats += 1
                    chunk = enc.ping()
                elif isinstance(item, End):
                    self._terminal = enc.end(item.count, item.extra)
                    return
                elif isinstance(item, Error):
                    self._fail(item)
                    return
                else:
                    chunk = enc.data(self._next_id, item)
                if not isinstance(item, Ping):
                    self._next_id += 1
                    count += 1
                    self.stats.records = count
                if not self._buf:
                    batch_started = time.monotonic()
                self._buf.append(chunk)
                self._buf_bytes += len(chunk)
                self._ready.set()
                if self._buf_bytes >= MAX_BUFFER:
                    self._space.clear()
                    self._space.wait()
                elif time.monotonic() - batch_started > MAX_BATCH_S:
                    gevent.sleep(0)  # let the writer take what is ready
        except gevent.GreenletExit:
            raise  # closed from outside: the finally below closes the producer
        except StreamerError as exc:
            self.stats.upstream_error = isinstance(exc, UpstreamError) or exc.type.startswith(
                "upstream")
            self._fail(Error(exc.type, exc.message), exc)
        except Exception as exc:
            log.exception("stream producer failed")
            self._fail(Error("internal_error", "internal error"), exc)
        finally:
            self._pump_done = True
            self._ready.set()
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _fail(self, error: Error, exc: BaseException | None = None) -> None:
        self._failure = error
        self._exc = exc
        self._terminal = self._enc.error(error.type, error.message)

    def _client_gone(self) -> None:
        self._gone = True
        self._pump.kill(block=False)
        self._ready.set()

    def _bytes_handed_over(self) -> int:
        return self.stats.bytes

    def _send_timed_out(self) -> None:  # in the hub; the SendGuard then resets the socket
        if self.stats.outcome == "open":
            self.stats.outcome = "send_timeout"
        self._pump.kill(block=False)

    def shutdown(self) -> None:
        """The worker is stopping: end this stream with a ``shutdown`` error record (after an
        SSE ``retry`` hint) so clients reconnect elsewhere, never with ``end``."""
        self._shutting_down = True
        self._pump.kill(block=False)
        self._ready.set()

    # -- before the first byte ---------------------------------------------------------------

    def wait_first(self, timeout: float) -> None:
        """Wait until the first record, the end, a failure or ``timeout``; raise a failure
        that happened before any record, so the caller can answer with a real status."""
        self._ready.wait(timeout)
        if self._failure is not None and not self._buf:
            exc = getattr(self, "_exc", None)
            error = exc if isinstance(exc, StreamerError) else StreamerError(
                self._failure.message, type=self._failure.type)
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
        if self._closed:
            raise StopIteration
        if self._abort_next:
            self._abort()
        if not self._started:
            self._started = True
            # The first write happens now, even if empty, so the headers go out.
            return self._emit(self._enc.prelude(self._retry_ms) + self._take())
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
            if self._pump_done:
                return self._finish()
            if not self._enc.framed:
                # Text has no ping: it only waits for data or the deadline.
                if self._deadline_timer is None:
                    self._deadline_timer = gevent.get_hub().loop.timer(self._deadline - now)
                    self._deadline_timer.start(self._on_deadline)
                self._ready.wait()
            elif not self._ready.wait(max(min(self._last_write + self._heartbeat_s,
                                              self._deadline) - now, 0.0)):
                if self._enc.framed and time.monotonic() - self._last_write >= self._heartbeat_s:
                    self.stats.heartbeats += 1
                    return self._emit(self._enc.ping())
                continue
            if not self._pump_done:
                self._ready.clear()

    def _shut_down(self) -> bytes:
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "shutdown", "shutdown"
        self._abort_next = True
        if not self._enc.framed:
            self._abort()
        message = "the server is restarting; reconnect to continue"
        return self._emit(self._enc.prelude(self._retry_ms) +
                          self._enc.error("shutdown", message))

    def _on_deadline(self) -> None:  # in the hub
        self._deadline_hit = True
        self._ready.set()

    def _timed_out(self) -> bytes:
        self._pump.kill(block=False)
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "timeout", "timeout"
        self._failure = Error("timeout", f"the stream exceeded its maximum duration of "
                                         f"{self._max_stream_s:g} s")
        self._abort_next = True
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
            self._abort_next = True
            if terminal and self._enc.framed:
                return self._emit(terminal)
            self._abort()
        if terminal is not None:
            self.stats.outcome = "complete"
            if terminal:
                return self._emit(terminal)
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
        if self._closed:
            return
        self._closed = True
        if self._registry is not None:
            self._registry.discard(self)
        if self._deadline_timer is not None:
            self._deadline_timer.stop()
            self._deadline_timer.close()
        if self._watcher is not None:
            self._watcher.stop()
        if self._send_guard is not None:
            self._send_guard.stop()
        if not self._pump.dead:
            self._pump.kill(block=False)
        if self.stats.outcome == "open":
            # The server stopped iterating before the end: its write to the client failed.
            self.stats.outcome = "disconnect"
        self.stats.finished = time.monotonic()
        if self._on_finish is not None:
            try:
                self._on_finish(self.stats)
            except Exception:
                log.exception("stream on_finish hook failed")


class StreamObserver(Protocol):
    """Told when each stream starts and ends (access log, metrics)."""

    def started(self, route: str, fmt: str) -> None: ...

    def finished(self, route: str, stats: StreamStats) -> None: ...


def stream_for_request(producer: Iterable[Any], *, first_id: int = 1,
                       headers: dict[str, str] | None = None) -> Response:
    """In a Flask view: :func:`stream_response` with the format the request asks for, the
    app's config, its registry of open streams (limit, graceful shutdown), and its
    observers (access log, metrics).

    >>> @app.get("/numbers")
    ... def numbers():
    ...     return stream_for_request(range(10))
    """
    from .params import choose_request_format

    fmt = choose_request_format(request)
    config: Config = current_app.config["STREAMER"]
    registry: StreamRegistry | None = current_app.extensions.get("streamer.streams")
    if registry is not None:
        if registry.shutting_down:
            raise Unavailable("the server is restarting; retry", type="shutdown", retry_after=1)
        if len(registry) >= config.max_streams:
            raise Unavailable("too many open streams on this server; retry shortly",
                              type="too_many_streams", retry_after=1)
    route = request.url_rule.rule if request.url_rule is not None else request.path
    observers: list[StreamObserver] = current_app.extensions.get("streamer.observers", [])
    for observer in observers:
        observer.started(route, fmt)

    def on_finish(stats: StreamStats) -> None:
        for observer in observers:
            observer.finished(route, stats)

    return stream_response(producer, fmt=fmt, config=config, environ=request.environ,
                           first_id=first_id, headers=headers, on_finish=on_finish,
                           registry=registry)


def stream_response(producer: Iterable[Any], *, fmt: str, config: Config,
                    environ: dict[str, Any] | None = None, first_id: int = 1,
                    headers: dict[str, str] | None = None,
                    on_finish: Callable[[StreamStats], None] | None = None,
                    registry: StreamRegistry | None = None) -> Response:
    """A streamed response of ``producer`` in format ``fmt``.

    Raises the producer's error if it fails before its first item (the app maps it to a
    status and a JSON body). ``environ`` is the WSGI environ: with gunicorn it gives the client
    socket, which turns on prompt disconnect detection and clean aborts.

    >>> def view():
    ...     return stream_response((f"chunk {i}\\n" for i in range(3)), fmt="text",
    ...                            config=Config(), environ=request.environ)
    """
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
                      send_timeout_s=config.send_timeout_s)
    body.wait_first(config.heartbeat_s)
    response = Response(body, status=200, mimetype=None, content_type=encoder.media_type,
                        direct_passthrough=True)
    response.headers.update(STREAM_HEADERS)
    if headers:
        response.headers.update(headers)
    return response
