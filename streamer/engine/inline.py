"""The inline strategy: the handler greenlet resumes the producer itself.

For text over a chunked gunicorn socket: a stream costs one greenlet and one wake-up per
record instead of two of each (the pump's). A pump greenlet fetches the first item
(:meth:`InlineStrategy.wait_first`) and ends there, the producer at a ``yield``; a bulk
producer that fills the buffer without blocking is handed back to a pump (it gains more from
running beside the socket write). Stop requests (client gone, deadline, shutdown) throw
:class:`_Interrupted` into the producer where it waits, which is what killing the pump
greenlet does.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import greenlet
from gevent import GreenletExit

from ..wire.http1 import http_chunk
from .core import MAX_BATCH_S, MAX_BUFFER, BodyCore, hand_over, log, loop_s
from .pump import PUMP, kill_pump


class _Interrupted(GreenletExit):  # type: ignore[misc]  # gevent is untyped here
    """Thrown into the handler greenlet while it runs an inline producer: the stream must stop
    (client gone, deadline, shutdown). A GreenletExit, so the producer sees what a killed pump
    greenlet's producer sees."""


class InlineStrategy:
    __slots__ = ()

    def start(self, body: BodyCore) -> Any:
        return None  # the first item is fetched in wait_first

    def wait_first(self, body: BodyCore, timeout: float) -> None:
        """Fetch the first item in a raw greenlet switched to directly, not spawned: a
        producer whose first item is ready costs two switches, and the view never passes
        through the hub, so the request's short-lived objects are freed before the next
        request allocates (a hub pass here left ~3 KiB per held stream of holes in pymalloc's
        pools). A producer that blocks lets the hub run; it switches back here when it is
        done, or the timer does after ``timeout``, and then it goes on as an ordinary pump
        under the hub (the headers go out, as with a spawned pump)."""
        here = gevent.getcurrent()
        hub = gevent.get_hub()
        pump = body._pump = greenlet.greenlet(PUMP.run, parent=here)
        if body._hold is not None:
            pump.gr_context = body._hold.context
        timer = hub.loop.timer(loop_s(timeout))
        timer.start(here.switch)
        try:
            pump.switch(body)
        finally:
            timer.stop()
            timer.close()
            if not pump.dead:
                pump.parent = hub  # from now on its end goes to the hub, not to this view

    def take_over(self, body: BodyCore) -> None:
        """Nothing to start: a running pump ends after its current item, seeing this strategy
        in charge (:meth:`streamer.engine.pump.PumpStrategy.run`); :meth:`step` waits for it."""

    def step(self, body: BodyCore) -> bytes | None:
        """Resume the producer until it blocks with records made, or ``MAX_BUFFER`` or
        ``MAX_BATCH_S`` is reached (coalescing, as the pump does); then write them.

        A record that came after a block goes out at once. If the producer blocks while
        records are held, a hub callback (:func:`_check_held`) sends them from a helper
        greenlet, so a record is never held back waiting for company.
        """
        if body._pump is not None:
            return PUMP.step(body)  # a pump still runs (the first item): wait for it
        if body._flusher is not None:
            body._flusher.join()  # held records go out before anything after them
            body._flusher = None
            return None  # look again: that send may have found the client gone
        if body._buf:
            return body._emit(body._take())  # what the pump fetched
        if body._producer_done:
            return body._finish()
        if body._handler is None:
            body._handler = gevent.getcurrent()
        body._start_deadline_timer()
        loop = gevent.get_hub().loop
        it = body._it
        batch_started = time.monotonic()
        passes, now = body._hub_passes, loop.now()
        body._in_producer = True
        try:
            # Tight loop while the producer does not block: stop requests come only when the
            # hub runs. The hub ran if the loop's time moved (each pass updates it: libev to
            # the microsecond, libuv to the millisecond) or, for a pass within libuv's
            # millisecond, once ``_check_held`` (scheduled after the first item) counted it.
            # Not the loop's ``iteration``: gevent's libuv loop leaves it at -1.
            n = 0
            while not body._pull(it):
                n += 1
                if (
                    loop.now() != now
                    or body._hub_passes != passes
                    or body._buf_bytes >= MAX_BUFFER
                    or (not n & 63 and time.monotonic() - batch_started > MAX_BATCH_S)
                ):
                    break
                if not body._held_check:
                    body._held_check = True
                    loop.run_callback(_check_held, body)
            else:
                body._producer_done = True
        except _Interrupted:
            body._producer_done = True  # the stop request says why
        except GreenletExit:
            body._producer_done = True
            raise  # the handler itself is being killed
        except Exception as exc:
            body._producer_failed(exc)
            body._producer_done = True
        finally:
            body._in_producer = False
        if body._producer_done:
            return None  # look again: a stop request, or the end
        if body._flusher is not None:
            body._flusher.join()  # the held records first, then these
            body._flusher = None
        if (
            body._buf_bytes >= MAX_BUFFER
            and loop.now() == now
            and body._hub_passes == passes
            and len(body._buf) > 8
        ):
            # A full buffer without a single block: a bulk producer. It gains more from
            # running in a pump while this greenlet waits on the socket (M1, M2) than it
            # saves inline; the generator sits at a ``yield``, so a new pump resumes it.
            hand_over(body, PUMP)
        return body._emit(body._take())

    def stop(self, body: BodyCore) -> None:
        """Kill the first item's pump, if it still runs; stop the producer if the handler
        greenlet is inside it. Thrown from the hub, never from the caller's greenlet: throwing
        from another greenlet would park that one with nobody to resume it."""
        kill_pump(body)
        if not body._interrupt_pending:
            body._interrupt_pending = True
            gevent.get_hub().loop.run_callback(_throw_in, body)

    def close(self, body: BodyCore) -> None:
        if body._flusher is not None:
            body._flusher.kill(block=False)
        if body._pump is not None:
            kill_pump(body)  # the first item's pump: its finally closes the producer
        elif not body._producer_done:
            # The producer waits at a ``yield``; closing it runs its ``finally``.
            body._producer_done = True
            close = getattr(body._it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("stream producer failed to close")


INLINE = InlineStrategy()


def _check_held(body: BodyCore) -> None:  # in the hub
    """The hub runs: count the pass; if the inline producer is blocked with records held,
    send them."""
    body._held_check = False
    body._hub_passes += 1
    if body._in_producer and body._buf and body._flusher is None:
        data = body._emit(body._take())
        body._flusher = gevent.spawn(_send_held, body, data)


def _send_held(body: BodyCore, data: bytes) -> None:
    # The handler is inside the producer, not writing, and the headers went out with the
    # first chunk (inline mode requires chunked).
    try:
        body._socket.sendall(http_chunk(data))
    except OSError:
        body._client_gone()


def _throw_in(body: BodyCore) -> None:  # in the hub
    body._interrupt_pending = False
    # Checked now, not when asked: the handler may have left the producer since (it may be
    # writing, and an exception there would break the server's write).
    handler = body._handler
    if body._in_producer and handler is not None and not handler.dead:
        handler.throw(_Interrupted)
