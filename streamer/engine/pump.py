"""The pump strategy: the producer runs in a greenlet of its own and fills the buffer.

The WSGI server's greenlet iterates the body and takes everything buffered at once
(coalescing); a full buffer (``MAX_BUFFER``) makes the pump wait (backpressure). Used for
framed formats (ndjson, sse), for the adapter's producers, and for text until its first item
(:meth:`_first_inline`), after which the inline strategy (:mod:`.inline`) takes over.
Stopping the stream kills the pump: the producer's ``finally`` runs where it waits.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import greenlet
from gevent import GreenletExit

from ..lifecycle import FINAL
from .core import MAX_BATCH_S, MAX_BUFFER, BodyCore


class PumpStrategy(BodyCore):
    __slots__ = ()

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


def _throw_exit(pump: Any) -> None:  # in the hub
    if not pump.dead:
        pump.throw(GreenletExit)
