"""Request bodies have a deadline: a body that arrives too slowly is dropped, not waited for.

gunicorn bounds how long a request *head* may take (its keep-alive timeout, 5 s here), but
once the head is in, the application reads ``wsgi.input`` with no time limit at all: a client
that announces ``Content-Length: 100000`` and sends a byte every few seconds holds a
connection slot (and a greenlet) for as long as it likes. :class:`BodyDeadline` is a WSGI
middleware that wraps ``wsgi.input`` so that every read of the body, by any view, is bounded:

- the whole body must have arrived within ``timeout_s`` (``STREAMER_BODY_TIMEOUT_S``, default
  30 s) of the request's start (when the head was parsed and the app was called), and
- after a first ``INITIAL_S`` (5 s), it must keep up at least ``min_rate`` bytes per second
  on average (``STREAMER_BODY_MIN_RATE``, default 500; 0 turns the floor off).

The two rules are Apache's ``mod_reqtimeout`` (``body=5,MinRate=500``, its default rate) with
a cap. A body that breaks either is dropped: the read raises :class:`BodyTimeout` (408 JSON
through the app's error handlers, or Werkzeug's own 408 in an app without them), a warning
is logged (the route and byte counts; never the body, a query string or a header), and
``on_drop(reason)`` is called (``reason`` is ``timeout`` or ``slow``) for the metric. The
warnings are bounded (:class:`DropLog`): the first drop is logged in full at once, the drops of
the next ``LOG_WINDOW_S`` are counted and logged as one line when it ends, so a flood of slow
bodies (3,000 in 8 s) is two lines, not 3,000; the metric still counts every one.

How: each read asks the server for a piece of the body at a time, under a ``gevent.Timeout``
that expires at whichever rule's limit comes first for the bytes asked. gunicorn blocks in a
read until it has every byte asked for, so the rate rule can only be checked between pieces:
the first piece is small (``PIECE``, 1 KiB), so a one-byte-a-second body fails after about
``INITIAL_S + PIECE / min_rate`` = 7 s instead of after the whole body's allowance; each piece
that arrives doubles the next (up to ``MAX_PIECE``), so a body that arrives at speed costs a
few dozen reads per MiB, not a thousand (1 KiB pieces made a 1 MiB body 15 times slower).
A body that starts fast and then stalls is caught by the overall deadline, or by the rate rule
once its larger piece is overdue. The timeout
raises an ``Exception`` (not gevent's ``BaseException``), so gunicorn's body reader marks the
body as failed and closes the connection after the 408: where the next request would start on
it is unknown.

A body whose framing the server cannot parse (a chunk size that is not hex, a chunk without
its CRLF) makes the server's reader raise mid-read; that is the client's bytes, not a fault
of the app, so the read raises :class:`~streamer.errors.MalformedBody` (400 JSON naming the
problem, the client's bytes in it cut by :func:`streamer.quote.detail`) instead of reaching
the app's 500 handler with a traceback. gunicorn marks such a body failed and closes the
connection after the answer, as for a late one.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent
from werkzeug.exceptions import BadRequest, RequestTimeout

from ..errors import StreamerError
from ..quote import detail

log = logging.getLogger("streamer.body")

INITIAL_S = 5.0  # seconds of credit before the rate floor applies
PIECE = 1024  # bytes first asked from the server per read ...
MAX_PIECE = 64 * 1024  # ... doubling with each piece that arrives, up to this
LOG_WINDOW_S = 10.0  # after a drop's warning, the drops of this long make one more line

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyTimeout(StreamerError, RequestTimeout):
    """The request body did not arrive in time: 408. Also a Werkzeug ``RequestTimeout``, so a
    Flask app without streamer's error handlers still answers 408, not 500."""

    type = "body_timeout"
    status = 408


class MalformedBody(StreamerError, BadRequest):
    """The request body's framing is broken (a chunk size that is not hex, a chunk without
    its CRLF): 400. Not a ``ValueError`` on purpose: Werkzeug's ``LimitedStream`` turns an
    ``OSError`` or ``ValueError`` from a read into its ``ClientDisconnected``, which would hide
    the message. Also a Werkzeug ``BadRequest``, so an app without streamer's handlers still
    answers 400."""

    type = "malformed_body"
    status = 400


class _Expired(Exception):
    """Raised into the reading greenlet by the piece's timer; an ``Exception`` on purpose
    (see the module docstring)."""


class DropLog:
    """The warnings for dropped bodies, at most two lines per ``window_s``: a drop is logged in
    full when no window is open, and opens one; the drops during it are counted and logged as
    ``N more request bodies dropped in the last 10 s (slow=N, timeout=N)`` when it closes.

    ``clock`` (monotonic seconds) and ``later(delay, fn)`` (run ``fn`` after ``delay``
    seconds; a gevent timer by default) are for tests.
    """

    def __init__(
        self,
        window_s: float = LOG_WINDOW_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._later = later if later is not None else gevent.spawn_later
        self._until = float("-inf")  # the open window's end
        self._more: dict[str, int] = {}  # drops counted in it, by reason

    def dropped(
        self, reason: str, route: str, received: int, length: int | None, after_s: float
    ) -> None:
        now = self._clock()
        if now < self._until:
            if not self._more:
                self._later(self._until - now, self.flush)
            self._more[reason] = self._more.get(reason, 0) + 1
            return
        self.flush()  # a window that ended before its timer ran
        self._until = now + self._window_s
        log.warning(
            "request body dropped: reason=%s route=%s received=%d length=%s after_s=%.1f",
            reason,
            route,
            received,
            "-" if length is None else length,
            after_s,
        )

    def flush(self) -> None:
        """Log the drops counted in the window, if any (its timer calls this)."""
        if not self._more:
            return
        more, self._more = self._more, {}
        log.warning(
            "%d more request bodies dropped in the last %g s (%s)",
            sum(more.values()),
            self._window_s,
            ", ".join(f"{reason}={n}" for reason, n in sorted(more.items())),
        )


class BodyDeadline:
    """WSGI middleware: ``app.wsgi_app = BodyDeadline(app.wsgi_app, timeout_s=30, ...)``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        timeout_s: float,
        min_rate: int,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.min_rate = min_rate
        self.on_drop = on_drop
        self.drop_log = DropLog()  # one per app: its warnings bounded across its requests

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # Only requests that have a body pay for the wrapper (a GET stream has none).
        length = environ.get("CONTENT_LENGTH")
        if (length and length != "0") or environ.get("HTTP_TRANSFER_ENCODING"):
            environ["wsgi.input"] = DeadlineInput(
                environ["wsgi.input"],
                timeout_s=self.timeout_s,
                min_rate=self.min_rate,
                on_drop=self.on_drop,
                length=_length(length),
                drop_log=self.drop_log,
            )
        return self.app(environ, start_response)


class DeadlineInput:
    """``wsgi.input`` with the deadline; PEP 3333's ``read``, ``readline``, ``readlines`` and
    iteration."""

    def __init__(
        self,
        inner: Any,
        *,
        timeout_s: float,
        min_rate: int,
        on_drop: Callable[[str], None] | None = None,
        length: int | None = None,
        start: float | None = None,
        drop_log: DropLog | None = None,
    ) -> None:
        self._inner = inner
        self._drop_log = drop_log if drop_log is not None else DropLog()
        self._start = time.monotonic() if start is None else start
        self._timeout_s = timeout_s
        self._min_rate = min_rate
        self._on_drop = on_drop
        self._length = length
        self._received = 0
        self._piece_size = PIECE
        self._dropped: StreamerError | None = None  # raised again by any later read

    @property
    def received(self) -> int:
        return self._received

    def read(self, size: int | None = -1) -> bytes:
        wanted = sys.maxsize if size is None or size < 0 else size
        parts = []
        while wanted > 0:
            data = self._piece(self._inner.read, min(wanted, self._piece_size))
            if not data:
                break
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = sys.maxsize if size is None or size < 0 else size
        parts = []
        while wanted > 0:
            data = self._piece(self._inner.readline, min(wanted, self._piece_size))
            if not data:
                break
            parts.append(data)
            wanted -= len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _piece(self, read: Callable[[int], bytes], size: int) -> bytes:
        if self._dropped is not None:
            raise self._dropped
        limit, reason = self._start + self._timeout_s, "timeout"
        if self._min_rate:
            by_rate = self._start + INITIAL_S + (self._received + size) / self._min_rate
            if by_rate < limit:
                limit, reason = by_rate, "slow"
        remaining = limit - time.monotonic()
        if remaining <= 0:
            self._drop(reason)
        expired = _Expired()
        timer = gevent.Timeout(remaining, expired)
        timer.start()
        try:
            data: bytes = read(size)
        except _Expired as exc:
            if exc is not expired:
                raise
            self._drop(reason)
        except (ConnectionError, TimeoutError):
            raise  # the connection failed (a reset, a socket timeout): not the body's bytes
        except Exception as exc:
            # The server's reader could not frame the body: gunicorn 27 raises its
            # ParseException kinds (InvalidChunkSize, ChunkMissingTerminator,
            # InvalidChunkExtension: plain Exceptions) or NoMoreData (an IOError) for a body
            # cut short; gevent's pywsgi raises IOError or ValueError.
            self._dropped = MalformedBody(f"the request body is malformed: {detail(str(exc))}")
            raise self._dropped from exc
        finally:
            timer.close()
        self._received += len(data)
        if len(data) == size:
            self._piece_size = min(self._piece_size * 2, MAX_PIECE)
        return data

    def _drop(self, reason: str) -> None:
        elapsed = time.monotonic() - self._start
        of = f" of {self._length}" if self._length is not None else ""
        if reason == "slow":
            message = (
                f"the request body arrived slower than {self._min_rate} bytes/s "
                f"({self._received}{of} bytes in {elapsed:.1f} s)"
            )
        else:
            message = (
                f"the request body did not arrive within {self._timeout_s:g} s "
                f"({self._received}{of} bytes)"
            )
        self._dropped = BodyTimeout(message)
        self._drop_log.dropped(reason, _route(), self._received, self._length, elapsed)
        if self._on_drop is not None:
            self._on_drop(reason)
        raise self._dropped


def _length(raw: str | None) -> int | None:
    """``Content-Length`` as a number for the messages (gunicorn has checked its form)."""
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


def _route() -> str:
    """The Flask route being served (a pattern, never the path: it may hold an id)."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - the middleware used without Flask
        return "-"
    if has_request_context() and request.url_rule is not None:
        return request.url_rule.rule
    return "-"
