"""The inline strategy: the handler greenlet resumes the producer itself.

For text over a chunked gunicorn socket: a stream costs one greenlet and one wake-up per
record instead of two of each (the pump's). The pump hands over once the first item is in
(the producer then sits at a ``yield``); a bulk producer that fills the buffer without
blocking is handed back to a pump (it gains more from running beside the socket write).
Stop requests (client gone, deadline, shutdown) throw :class:`_Interrupted` into the producer
where it waits, which is what killing the pump greenlet does.
"""

from __future__ import annotations

import time

import gevent
from gevent import GreenletExit

from .core import MAX_BATCH_S, MAX_BUFFER, BodyCore


class _Interrupted(GreenletExit):  # type: ignore[misc]  # gevent is untyped here
    """Thrown into the handler greenlet while it runs an inline producer: the stream must stop
    (client gone, deadline, shutdown). A GreenletExit, so the producer sees what a killed pump
    greenlet's producer sees."""


class InlineStrategy(BodyCore):
    __slots__ = ()

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
            passes, now = self._hub_passes, loop.now()
            ended = False
            self._in_producer = True
            try:
                # Tight loop while the producer does not block: the flags above change only
                # when the hub runs. The hub ran if the loop's time moved (each pass updates
                # it: libev to the microsecond, libuv to the millisecond) or, for a pass within
                # libuv's millisecond, once ``_check_held`` (scheduled after the first item)
                # counted it. Not the loop's ``iteration``: gevent's libuv loop leaves it at -1.
                n = 0
                while not self._pull(it):
                    n += 1
                    if (loop.now() != now or self._hub_passes != passes
                            or self._buf_bytes >= MAX_BUFFER
                            or (not n & 63 and time.monotonic() - batch_started > MAX_BATCH_S)):
                        break
                    if not self._held_check:
                        self._held_check = True
                        loop.run_callback(self._check_held)
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
            if (self._buf_bytes >= MAX_BUFFER and loop.now() == now
                    and self._hub_passes == passes and len(self._buf) > 8):
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
