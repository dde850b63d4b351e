"""The pump strategy: the producer runs in a greenlet of its own and fills the buffer.

The WSGI server's greenlet iterates the body and takes everything buffered at once
(coalescing); a full buffer (``MAX_BUFFER``) makes the pump wait (backpressure). Used for
framed formats (ndjson, sse) and for the adapter's producers; for the first item of an inline
stream (:mod:`.inline`), and for the rest of a bulk one. Stopping the stream kills the pump: the
producer's ``finally`` runs where it waits.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.event import Event

from .core import MAX_BATCH_S, MAX_BUFFER, BodyCore, loop_s
from .lifecycle import FINAL


class PumpStrategy:
    __slots__ = ()

    def start(self, body: BodyCore) -> Any:
        pump = gevent.spawn(self.run, body)
        if body._hold is not None:
            pump.gr_context = body._hold.context  # not started yet: it starts in this context
        return pump

    def wait_first(self, body: BodyCore, timeout: float) -> None:
        events(body)[0].wait(timeout)

    def take_over(self, body: BodyCore) -> None:
        body._pump_done = False
        if body._wake is not None:
            body._wake.clear()
        body._pump = self.start(body)

    def step(self, body: BodyCore) -> bytes | None:
        if body._buf:
            return body._emit(body._take())
        if body._pump_done:
            return body._finish()
        wake = events(body)[0]
        if not body._enc.framed:
            # Text has no ping: it only waits for data or the deadline.
            body._start_deadline_timer()
            wake.wait()
        elif not wake.wait(
            loop_s(min(body._last_write + body._heartbeat_s, body._deadline) - time.monotonic())
        ):
            if time.monotonic() - body._last_write >= body._heartbeat_s:
                body.stats.heartbeats += 1
                return body._emit(body._enc.ping())
            return None
        if not body._pump_done:
            wake.clear()
        return None

    def stop(self, body: BodyCore) -> None:
        kill_pump(body)

    close = stop

    def run(self, body: BodyCore) -> None:
        """The pump greenlet: pull items into the buffer until the producer ends, the buffer
        is full (wait for space), or another strategy runs the body (it resumes the producer
        from the ``yield`` where this one leaves it)."""
        it = body._it
        handed = False
        batch_started = 0.0
        try:
            while True:
                if not body._buf:
                    batch_started = time.monotonic()
                if body._pull(it):
                    return
                if body._wake is not None:  # someone waits, or has waited
                    body._wake.set()
                if body._strategy is not self:
                    # The inline strategy runs this stream: the handler greenlet resumes the
                    # producer itself and this greenlet (its stack, its wake-ups) goes away.
                    handed = True
                    return
                if body._buf_bytes >= MAX_BUFFER:
                    space = events(body)[1]
                    space.clear()
                    space.wait()
                elif time.monotonic() - batch_started > MAX_BATCH_S:
                    gevent.sleep(0)  # let the writer take what is ready
        except gevent.GreenletExit:
            raise  # closed from outside: the finally below closes the producer
        except Exception as exc:
            body._producer_failed(exc)
        finally:
            body._pump_done = True
            if body._pump is gevent.getcurrent():
                body._pump = None  # a dead greenlet held by each open stream is ~0.5 KiB
            if body._wake is not None:
                body._wake.set()
            if not handed:
                body._producer_done = True
                close = getattr(it, "close", None)
                try:
                    if close is not None:
                        close()
                finally:
                    if body._state in FINAL:
                        body._release()


PUMP = PumpStrategy()


def events(body: BodyCore) -> tuple[Event, Event]:
    """The body's ``_wake`` and ``_space``, made the first time anything waits on one: a
    stream whose first item was ready and that then runs inline never has them (2 x ~150 B
    of each held stream). Made with what they would be by now: ``_space`` set (the buffer
    was emptied, or nothing waited for it), ``_wake`` set if a stop was asked or the pump
    has finished or left records; whoever waits looks at the buffer first anyway."""
    if body._wake is None or body._space is None:
        body._wake, body._space = Event(), Event()
        body._space.set()
        if body._stop is not None or body._pump_done or body._buf:
            body._wake.set()
    return body._wake, body._space


def kill_pump(body: BodyCore) -> None:
    """Stop the pump greenlet, if any: its producer's ``finally`` runs where it waits."""
    pump = body._pump
    if pump is None:
        return
    if isinstance(pump, gevent.Greenlet):
        pump.kill(block=False)
    else:
        # A raw greenlet (the inline strategy's first item): thrown into from the hub, and
        # only if still alive then (a dead greenlet's throw would land in its parent).
        gevent.get_hub().loop.run_callback(_throw_exit, pump)


def _throw_exit(pump: Any) -> None:  # in the hub
    if not pump.dead:
        pump.throw(GreenletExit)
