"""How a stream ends: the last record, then the connection closed or cut, then cleanup.

``end`` goes out only on success (:meth:`_finish`); a stop request is answered by
:meth:`_stopped`. A failure, a timeout or a shutdown write
their ``error`` record (framed formats) and move the body to ``ENDING``: the next call cuts
the connection without the chunked terminator (:meth:`_abort`), so no client takes a broken
stream for complete. :meth:`close` always runs once: it stops the producer and the watchers
and reports the stats; :meth:`_release` runs the request's teardown once the producer is done.
"""

from __future__ import annotations

import socket
import time
from typing import NoReturn

from ..errors import StreamerError
from ..wire.records import Error
from .core import BodyCore, log
from .disconnect import wait_closed
from .lifecycle import ABORTED, CLIENT_GONE, DEADLINE, DONE, ENDING, FINAL, SHUTDOWN, advance
from .pump import kill_pump

# After an ``error`` record, how long the client has to read it and close before the cut
# (streamer.engine.disconnect.wait_closed): cut at once, a browser may drop the record it has not
# yet handed to the page; a reader that knows the protocol closes at the record.
CUT_GRACE_S = 2.0


class StreamAborted(StreamerError, ConnectionAbortedError):
    """Raised to a WSGI server that gave no socket, to make it drop a broken stream."""

    type = "aborted"


class Endings(BodyCore):
    __slots__ = ()

    def _stopped(self) -> bytes:
        """The answer to the stop request (the first one asked), or to the deadline passing
        before its watcher said so."""
        stop = self._stop
        if stop is None:
            stop = self._stop = DEADLINE
        if stop is SHUTDOWN:
            return self._shut_down()
        if stop is DEADLINE:
            return self._timed_out()
        if stop is CLIENT_GONE:
            self.stats.outcome = "disconnect"
        self._abort()  # nobody to tell (gone, or not reading): cut

    def _shut_down(self) -> bytes:
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "shutdown", "shutdown"
        self._state = advance(self._state, ENDING)
        if not self._enc.framed:
            self._abort()
        message = "the server is restarting; reconnect to continue"
        # The error carries the retry hint (SSE) even when an earlier event did: reconnect soon.
        lead, self._lead = self._lead or self._enc.lead(self._retry_ms), None
        return self._emit(lead + self._enc.error("shutdown", message))

    def _timed_out(self) -> bytes:
        kill_pump(self)
        self._buf.clear()
        self.stats.outcome, self.stats.error_type = "timeout", "timeout"
        self._failure = Error(
            "timeout", f"the stream exceeded its maximum duration of {self._max_stream_s:g} s"
        )
        self._state = advance(self._state, ENDING)
        if not self._enc.framed:
            self._abort()
        return self._emit(self._enc.error(self._failure.type, self._failure.message))

    def _finish(self) -> bytes:
        terminal, self._terminal = self._terminal, None
        if self._failure is not None:
            self.stats.outcome, self.stats.error_type = "error", self._failure.type
            self._state = advance(self._state, ENDING)
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

    def _abort(self) -> NoReturn:
        """End the connection without the chunked terminator."""
        record_out = self._state is ENDING and self._enc.framed  # an error record went out
        self.close()
        if self._socket is None:
            raise StreamAborted("stream ended early")
        if record_out:
            wait_closed(self._socket, CUT_GRACE_S)
        try:
            # After this the server's terminator write fails with EPIPE, which gunicorn
            # ignores; the client sees a body cut short.
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise StopIteration

    def close(self) -> None:
        """Stop the producer (its ``finally`` runs) and the watcher; report the stats once."""
        if self._state in FINAL:
            return
        # Final now (a second close() returns above); DONE only once ``end`` went out.
        self._state = advance(self._state, DONE if self.stats.outcome == "complete" else ABORTED)
        if self._registry is not None:
            self._registry.discard(self)
        if self._deadline_timer is not None:
            self._deadline_timer.stop()
            self._deadline_timer.close()
        if self._watcher is not None:
            self._watcher.stop()
        if self._send_guard is not None:
            self._send_guard.stop()
        # Both hold bound methods of this body: without these edges a finished stream is
        # freed by reference counting, not left as a cycle for the next full collection.
        self._watcher = self._send_guard = None
        self._strategy.close(self)
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

    def _release(self) -> None:
        """The stream is closed and its producer has finished: the request's teardown runs
        now (once), with the producer's exception if it failed."""
        hold, self._hold = self._hold, None
        exc, self._exc = self._exc, None  # its traceback's frames hold this body: no cycle
        if hold is not None:
            hold.release(exc if self.stats.outcome == "error" else None)
